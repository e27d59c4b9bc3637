#!/usr/bin/env bash
# The project's test command: the README's second set-up command, and what .ci/run runs.
# Needs only a Rust toolchain; fixtures are committed, so no Python is involved.
set -euo pipefail
cd "$(dirname "$0")/.."
# One persistent target directory for every profile and feature set: a clean build of Burn
# takes 10-20 minutes on 2 cores, later runs reuse it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/phi3/target}"

echo "== tests (release profile: numeric code is far too slow unoptimised) =="
cargo test --release --workspace

echo "== the cuda feature compiles here (no GPU or CUDA toolkit needed) =="
cargo build --features cuda
# ... and asking for the CUDA device without a driver is a typed error, not a panic.
cargo test --features cuda --test bad_input cuda_without_driver
