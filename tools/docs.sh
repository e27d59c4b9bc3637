#!/usr/bin/env bash
# One command for the generated parts of the docs: docs/walkthrough.md's code and real output
# (examples/walkthrough.rs run on SmolLM2) and the pictures in docs/img/ (tools/docs/pictures.py:
# masks, decode loop, crate graph, benchmark plots). `--check` writes nothing and fails if either
# differs from what the code gives now (timings aside): CI runs that.
set -euo pipefail
cd "$(dirname "$0")/.."
check=""
[ "${1:-}" = "--check" ] && check="--check"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${PHI3_CACHE:-$HOME/.cache/phi3}/target}"
model="${PHI3_SMOLLM2_GGUF:-$(./tools/fetch-smollm2.sh)}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cargo build --release -q --example walkthrough
"$CARGO_TARGET_DIR/release/examples/walkthrough" --model "$model" \
  --phi3-config tests/fixtures/configs/phi-3-mini-4k-instruct.config.json \
  --pictures "$work" > "$work/output.txt"
python3 tools/docs/walkthrough.py docs/walkthrough.md examples/walkthrough.rs "$work/output.txt" $check
cargo metadata --format-version 1 --no-deps > "$work/metadata.json"
out="docs/img"
[ -n "$check" ] && out="$work/img"
python3 tools/docs/pictures.py --masks "$work/masks.json" --decode "$work/decode.json" \
  --metadata "$work/metadata.json" --benchmarks docs/benchmarks.md --out "$out" > /dev/null
if [ -n "$check" ]; then
  diff -r docs/img "$out" > "$work/img.diff" || { head -40 "$work/img.diff"; echo "docs/img is out of date: run ./tools/docs.sh"; exit 1; }
  echo "docs/img: every picture equals what tools/docs/pictures.py draws now"
else
  echo "docs/img: $(ls docs/img | wc -l) pictures written"
fi
