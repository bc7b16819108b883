#!/usr/bin/env bash
# Reproduces EVALUATION.md's note "A recipe for large clean sets, and why it is not chosen by size" with the CLI
# alone: CE with the defaults and with `--recipe large-set` on seeded subsets of SST-2's real training rows (test
# on real_test.jsonl, last epoch), then CE and DIMP with both recipes on the three SST-2 synthetic sources put
# together (26,000 rows; 400 real rows for the quality checker, 200 for validation). Prints one line per run.
# Needs the CLI built (`npm run build`). The full grid is 54 trainings and 3 scorings: about an hour on 2 cores.
# Runs already in WORK_DIR (their metrics.json) are kept, so an interrupted run resumes where it stopped. The
# CLI runs in WORK_DIR with an empty project config, so no dimp.config.json around changes the experiment.
#
# Usage: scripts/recipe-by-size.sh [DATA_DIR] [WORK_DIR]     (defaults: ../shared/data, a new temporary folder)
#        SIZES="5000 10000 20000" SEEDS="1 2 3" to change the grid.
set -Eeuo pipefail
shopt -s inherit_errexit
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="$(cd "${1:-$ROOT/../shared/data}" 2>/dev/null && pwd || true)"
WORK="${2:-$(mktemp -d -t dimp-recipe-XXXXXX)}"
SIZES="${SIZES:-5000 10000 15000 20000 30000 45000 65000}"
SEEDS="${SEEDS:-1 2 3}"
CLI="$ROOT/bin/dimp-curator"
SST2="$DATA/sst2"
if [[ -z "$DATA" || ! -f "$SST2/real_train.jsonl" ]]; then
  echo "no SST-2 data at ${1:-$ROOT/../shared/data}/sst2 (the shared evaluation data): nothing to run" >&2
  exit 1
fi
if [[ ! -f "$ROOT/dist/cli.js" ]]; then
  echo "the CLI is not built: run npm run build first" >&2
  exit 1
fi
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
cd "$WORK"
echo '{}' > "$WORK/empty.config.json"
echo "working in $WORK (the CLI's output: $WORK/cli.log)"
trap 'echo "failed; the end of $WORK/cli.log:" >&2; tail -5 "$WORK/cli.log" >&2' ERR

# Trains one run unless its metrics are there from an earlier pass; prints its test accuracy.
train() {
  local name="$1"; shift
  if [[ ! -f "$WORK/runs/$name/metrics.json" ]]; then
    "$CLI" train --config "$WORK/empty.config.json" "$@" --out "$WORK/runs" --name "$name" >> "$WORK/cli.log" 2>&1
  fi
  accuracy "$WORK/runs/$name"
}

accuracy() { python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['test']['accuracy']*100, 1))" "$1/metrics.json"; }

# Seeded, disjoint picks from real_train.jsonl: the first $2 lines of a seeded shuffle, after skipping $3.
pick() { python3 - "$SST2/real_train.jsonl" "$1" "$2" "$3" <<'PY'
import random, sys
lines = open(sys.argv[1]).read().splitlines()
order = list(range(len(lines)))
random.Random(int(sys.argv[2])).shuffle(order)
skip, count = int(sys.argv[4]), int(sys.argv[3])
sys.stdout.write('\n'.join(lines[i] for i in order[skip:skip + count]) + '\n')
PY
}

for n in $SIZES; do
  for seed in $SEEDS; do
    pick "$seed" "$n" 0 > "$WORK/real-$n-$seed.jsonl"
    line="real rows $n seed $seed:"
    for recipe in small-set large-set; do
      line="$line $recipe $(train "real-$n-$seed-$recipe" --synthetic "$WORK/real-$n-$seed.jsonl" --loss ce --test "$SST2/real_test.jsonl" --seed "$seed" --recipe "$recipe")"
    done
    echo "$line"
  done
done

cat "$SST2/synthetic_fewgen_s13.jsonl" "$SST2/synthetic_fewgen_s42.jsonl" "$SST2/synthetic_supergen.jsonl" > "$WORK/synthetic-all.jsonl"
rows="$(grep -c . "$WORK/synthetic-all.jsonl")"
for seed in $SEEDS; do
  pick "$seed" 400 0 > "$WORK/quality-$seed.jsonl"
  pick "$seed" 200 400 > "$WORK/validation-$seed.jsonl"
  if [[ ! -f "$WORK/scores-$seed.jsonl" ]]; then
    "$CLI" score --config "$WORK/empty.config.json" --real "$WORK/quality-$seed.jsonl" --synthetic "$WORK/synthetic-all.jsonl" \
      --validation "$WORK/validation-$seed.jsonl" --seed "$seed" --out "$WORK/scores-$seed.jsonl" >> "$WORK/cli.log" 2>&1
  fi
  line="$rows synthetic rows seed $seed:"
  for recipe in small-set large-set; do
    for loss in ce dimp; do
      line="$line $recipe $loss $(train "synthetic-$seed-$recipe-$loss" --synthetic "$WORK/synthetic-all.jsonl" --scores "$WORK/scores-$seed.jsonl" --loss "$loss" \
        --validation "$WORK/validation-$seed.jsonl" --test "$SST2/real_test.jsonl" --seed "$seed" --recipe "$recipe")"
    done
  done
  echo "$line"
done
