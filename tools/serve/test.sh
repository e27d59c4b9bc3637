#!/usr/bin/env bash
# The server test: starts examples/serve on SmolLM2-135M-Instruct on a free loopback port and
# runs tools/serve/test_openai.py against it with OpenAI's official Python client (installed
# once from PyPI into a venv under ~/.cache/phi3).
set -euo pipefail
cd "$(dirname "$0")/../.."
cache="${PHI3_CACHE:-$HOME/.cache/phi3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
venv="$cache/venv-openai"
if ! "$venv/bin/python" -c 'import openai' 2> /dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'openai>=1.40,<3'
fi
model="${PHI3_SMOLLM2_GGUF:-$(./tools/fetch-smollm2.sh)}"
cargo build --release -q --example serve
log="$(mktemp)"
# f32 weights: the answers are transformers' on every CPU (4-bit blocks round differently
# with AVX2 and AVX-512 kernels).
"$CARGO_TARGET_DIR/release/examples/serve" --model "$model" --dtype f32 --port 0 > "$log" 2>&1 &
pid=$!
trap 'kill $pid 2> /dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 240); do
  grep -q '^serving ' "$log" && break
  kill -0 "$pid" 2> /dev/null || { cat "$log"; exit 1; }
  sleep 0.25
done
url="$(sed -n 's/^serving .* on \(http:[^ ]*\)$/\1/p' "$log")"
[ -n "$url" ] || { cat "$log"; exit 1; }
"$venv/bin/python" tools/serve/test_openai.py "$url"
