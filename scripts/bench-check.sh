#!/usr/bin/env bash
# Benchmarks `freetier check --plan` in a release build: the whole process on generated 1,000-
# and 10,000-resource plans (goal: at most 100 ms on 10,000), against the same checks as a Rego
# policy run by the regorus crate in the bench's process, with both sides' violations compared;
# then `freetier check` on each layer of terraform/. Exits 1 when the two sides disagree.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${CARGO_BUILD_JOBS:-2}"
# The real binary is what the whole-process timings run.
cargo build --release -j "$jobs" --bin freetier
cargo bench -j "$jobs" --bench check -- "$@"
