#!/usr/bin/env bash
# Benchmarks `freetier check` (issue 3) in a release build: `--plan` on a generated
# 1,000-resource plan against OPA/Rego (regorus, from .tools/venv-tools), and `freetier check`
# on each layer of terraform/. Prints the timings and the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${CARGO_BUILD_JOBS:-1}"
if [ ! -x .tools/venv-tools/bin/python ]; then
  echo "bench-check: .tools/venv-tools is missing; run scripts/install-tools.sh for the Rego peer" >&2
fi
# The real binary is used for the whole-process timings once it dispatches `check`.
cargo build --release -j "$jobs" --bin freetier
cargo bench -j "$jobs" --bench check -- "$@"
