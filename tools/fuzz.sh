#!/usr/bin/env bash
# Fuzzes one of phi3's readers of untrusted input (fuzz/fuzz_targets, docs/reliability.md):
#
#   tools/fuzz.sh TARGET [SECONDS]     TARGET: config safetensors gguf blocks tokenizer sampler
#
# Builds with nightly and cargo-fuzz (installed on first use), seeds the corpus from the committed
# fixtures, runs libFuzzer for SECONDS (default 600) under a 2 GiB RSS limit and prints its final
# statistics. A crash leaves its input in fuzz/artifacts/TARGET/; it becomes a regression case in
# the ordinary test suite (tests/hostile.rs), never a committed fuzz input only.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:?usage: tools/fuzz.sh TARGET [SECONDS]}"
seconds="${2:-600}"
export CARGO_TARGET_DIR="${PHI3_FUZZ_TARGET:-${PHI3_CACHE:-$HOME/.cache/phi3}/fuzz-target}"
command -v cargo-fuzz > /dev/null || cargo install cargo-fuzz --locked

corpus="fuzz/corpus/$target"
mkdir -p "$corpus"
if [ -z "$(ls -A "$corpus")" ]; then
  case "$target" in
    config) cp tests/fixtures/*/config.json "$corpus/" 2> /dev/null || true
            for f in tests/fixtures/configs/*.json tests/fixtures/family/*/config.json; do
              cp "$f" "$corpus/$(echo "$f" | tr / _)"; done ;;
    safetensors) for d in bf16 gqa partial_rotary_tied; do
              cp "tests/fixtures/$d/model.safetensors" "$corpus/$d.safetensors"; done ;;
    gguf) cp tests/fixtures/gguf/*.gguf "$corpus/" ;;
    blocks) for i in 0 1 2 3 4 5 6 7 8; do
              head -c 4096 tests/fixtures/gguf/llama.gguf | tail -c 2048 \
                | { printf "\\x$(printf %02x "$i")"; cat; } > "$corpus/type$i"; done ;;
    tokenizer) for f in tests/fixtures/*/tokenizer_config.json; do
              { cat "$f"; printf '\xffThe capital of France is <|end|> Paris'; } \
                > "$corpus/$(echo "$f" | tr / _)"; done ;;
    sampler) head -c 256 /dev/urandom > "$corpus/random" ;;
    *) echo "unknown target $target" >&2; exit 2 ;;
  esac
fi
mkdir -p "$CARGO_TARGET_DIR"
cd fuzz
cargo +nightly fuzz run "$target" "../$corpus" -- \
  -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 2>&1 \
  | tee "$CARGO_TARGET_DIR/fuzz-$target.log" | grep -E "^(#[0-9]+\s+DONE|stat::|==|SUMMARY|Done)" || true
grep -q "SUMMARY\|deadly signal\|ERROR: libFuzzer" "$CARGO_TARGET_DIR/fuzz-$target.log" && exit 1 || exit 0
