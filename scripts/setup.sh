#!/usr/bin/env bash
# Sets up a fresh clone: npm packages (without onnxruntime's CUDA download), then the bundles.
# Optional benchmark baselines (fastText C++) are installed by `npm run setup -- --baselines`.
set -euo pipefail
cd "$(dirname "$0")/.."
export ONNXRUNTIME_NODE_INSTALL=skip ORT_DISABLE_TELEMETRY=1

if [[ "${1:-}" == "--baselines" ]]; then
  if command -v apt-get >/dev/null && [[ $(id -u) -eq 0 ]]; then
    apt-get update -qq && apt-get install -y -qq fasttext
  else
    echo "install the fastText C++ tool yourself (Debian/Ubuntu: sudo apt-get install fasttext)" >&2
  fi
fi

node -e 'const [major] = process.versions.node.split(".").map(Number); if (major < 20) { console.error(`Node ${process.versions.node} is too old: DIMP Curator needs Node 20 or newer`); process.exit(1); }'
npm ci
npm run build
