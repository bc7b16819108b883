#!/usr/bin/env bash
# Sets up a fresh clone: the system packages the extension-host tests need, npm packages (without
# onnxruntime's CUDA download), then the bundles.
# Optional benchmark baselines (fastText C++) are installed by `npm run setup -- --baselines`.
set -euo pipefail
cd "$(dirname "$0")/.."
export ONNXRUNTIME_NODE_INSTALL=skip ORT_DISABLE_TELEMETRY=1

# Debian packages, installed only where missing:
# - libkrb5-dev, pkg-config, g++, make, python3: build code-server's native modules (the VS Code server that
#   `npm test` runs the extension in; test/extension/runner.mjs installs it into .cache/vscode-host/);
# - chromium, fonts-liberation: the headless browser that loads the workbench and starts the extension host.
packages=(libkrb5-dev pkg-config g++ make python3 chromium fonts-liberation)
if [[ "${1:-}" == "--baselines" ]]; then packages+=(fasttext); fi
missing=()
if command -v dpkg-query >/dev/null; then
  for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
  done
fi
if [[ ${#missing[@]} -gt 0 ]]; then
  if command -v apt-get >/dev/null && [[ $(id -u) -eq 0 ]]; then
    echo "installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "missing system packages for the extension-host tests: ${missing[*]}" >&2
    echo "  install them yourself (Debian/Ubuntu: sudo apt-get install ${missing[*]}), then run npm run setup again" >&2
  fi
elif ! command -v dpkg-query >/dev/null; then
  echo "not a Debian-like system: for the extension-host tests install Kerberos headers, pkg-config, a C++ toolchain," >&2
  echo "  Python 3, Chromium (at /usr/bin/chromium or set DIMP_CHROMIUM) and the Liberation fonts yourself" >&2
fi

node -e 'const [major] = process.versions.node.split(".").map(Number); if (major < 20) { console.error(`Node ${process.versions.node} is too old: DIMP Curator needs Node 20 or newer`); process.exit(1); }'
npm ci
npm run build
