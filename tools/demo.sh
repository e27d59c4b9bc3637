#!/usr/bin/env bash
# The README's demo: fetch SmolLM2 (once) and run the walk-through on it, ending in " Paris"
# and a generated email.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/phi3/target}"
model="$(./tools/fetch-smollm2.sh)"
cargo run --release --example capital_of_france -- --model "$model" "$@"
