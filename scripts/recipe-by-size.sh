#!/usr/bin/env bash
# Reproduces EVALUATION.md's note "A recipe for large clean sets, and why it is not chosen by size" with the CLI
# alone: CE with the defaults and with `--recipe large-set` on seeded subsets of SST-2's real training rows (test
# on real_test.jsonl, last epoch), then CE and DIMP with both recipes on the three SST-2 synthetic sources put
# together (26,000 rows; 400 real rows for the quality checker, 200 for validation). Prints one line per run.
#
# Usage: scripts/recipe-by-size.sh [DATA_DIR] [WORK_DIR]     (defaults: ../shared/data, a new temporary folder)
#        SIZES="5000 10000 20000" SEEDS="1 2 3" to change the grid.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${1:-$ROOT/../shared/data}"
WORK="${2:-$(mktemp -d -t dimp-recipe-XXXXXX)}"
SIZES="${SIZES:-5000 10000 15000 20000 30000 45000 65000}"
SEEDS="${SEEDS:-1 2 3}"
CLI="$ROOT/bin/dimp-curator"
SST2="$DATA/sst2"
if [[ ! -f "$SST2/real_train.jsonl" ]]; then
  echo "no SST-2 data at $SST2 (the shared evaluation data): nothing to run" >&2
  exit 1
fi
mkdir -p "$WORK"
echo "working in $WORK (the CLI's output: $WORK/cli.log)"
trap 'echo "failed; the end of $WORK/cli.log:" >&2; tail -5 "$WORK/cli.log" >&2' ERR

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
      "$CLI" train --synthetic "$WORK/real-$n-$seed.jsonl" --loss ce --test "$SST2/real_test.jsonl" --seed "$seed" \
        --recipe "$recipe" --out "$WORK/runs" --name "real-$n-$seed-$recipe" >> "$WORK/cli.log" 2>&1
      line="$line $recipe $(accuracy "$WORK/runs/real-$n-$seed-$recipe")"
    done
    echo "$line"
  done
done

cat "$SST2/synthetic_fewgen_s13.jsonl" "$SST2/synthetic_fewgen_s42.jsonl" "$SST2/synthetic_supergen.jsonl" > "$WORK/synthetic-all.jsonl"
for seed in $SEEDS; do
  pick "$seed" 400 0 > "$WORK/quality-$seed.jsonl"
  pick "$seed" 200 400 > "$WORK/validation-$seed.jsonl"
  "$CLI" score --real "$WORK/quality-$seed.jsonl" --synthetic "$WORK/synthetic-all.jsonl" --validation "$WORK/validation-$seed.jsonl" \
    --seed "$seed" --out "$WORK/scores-$seed.jsonl" >> "$WORK/cli.log" 2>&1
  line="26,000 synthetic rows seed $seed:"
  for recipe in small-set large-set; do
    for loss in ce dimp; do
      "$CLI" train --synthetic "$WORK/synthetic-all.jsonl" --scores "$WORK/scores-$seed.jsonl" --loss "$loss" \
        --validation "$WORK/validation-$seed.jsonl" --test "$SST2/real_test.jsonl" --seed "$seed" --recipe "$recipe" \
        --out "$WORK/runs" --name "synthetic-$seed-$recipe-$loss" >> "$WORK/cli.log" 2>&1
      line="$line $recipe $loss $(accuracy "$WORK/runs/synthetic-$seed-$recipe-$loss")"
    done
  done
  echo "$line"
done
