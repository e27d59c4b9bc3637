#!/usr/bin/env bash
# The GPU check: one prepared script for a machine with an NVIDIA GPU and no registry.
#
#   tools/gpu/check.sh build      here: builds the CUDA binaries into tools/gpu/bin (stripped and
#                                 gzipped: the device tool carries at most 64 MiB;
#                                 `carry: ["tools/gpu/bin"]`)
#   tools/gpu/check.sh run        on the GPU machine, from the repository root: runs them
#   tools/gpu/check.sh --dry-run  here: builds the same programs for wgpu and runs the same steps on
#                                 Mesa's lavapipe (a small config instead of Phi-3-mini), as CI does
#
# The steps: the GPU checks of tests/backend_checks (oracle fixtures f32 ≤ 1e-4, every attention
# kernel and mask, cached = uncached generation, SmolLM2's " Paris" when PHI3_SMOLLM2_GGUF names
# the GGUF), again in the half-precision compute dtype (bf16 on CUDA, bounds in
# tests/backend_checks); then a Phi-3-mini-shaped model (the published config, random weights,
# bf16) measuring pp512 and tg128 with Burn's fusion on and off and with the naive and fused
# attention kernels. Results: $OUT/gpu-check.json and $OUT/gpu-check.md (OUT defaults to
# target/gpu-check). Budget: under 5 minutes on an H200.
#
# SmolLM2 (98 MB) does not fit the device tool's 64 MiB carry: split it over two calls of the
# same warm machine (`split -b 60M` into an ignored folder, `cat` there) or leave the Paris step
# reported as not run.
set -uo pipefail
cd "$(dirname "$0")/../.."
mode="${1:-run}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${PHI3_CACHE:-$HOME/.cache/phi3}/target}"
OUT="${OUT:-target/gpu-check}"
mkdir -p "$OUT"
BIN=tools/gpu/bin
RUN_BIN="$CARGO_TARGET_DIR/gpu-check-bin"

# Copies the newest test binary named $1 (cargo names them $1-HASH) to $BIN/$2.
take_test_binary() {
  local built
  built="$(ls -t "$CARGO_TARGET_DIR"/release/deps/"$1"-* | grep -v '\.d$' | head -1)"
  cp "$built" "$BIN/$2"
}

build() { # $1: the cargo feature (cuda or wgpu)
  set -e
  mkdir -p "$BIN"
  cargo build --release --features "$1" --example bench
  cargo test --release --features "$1" --test "$1" --no-run
  cp "$CARGO_TARGET_DIR/release/examples/bench" "$BIN/bench"
  take_test_binary "$1" checks
  strip "$BIN/bench" "$BIN/checks"
  gzip -f -9 "$BIN/bench" "$BIN/checks"
  du -ch "$BIN"/* | tail -1
  set +e
}

unpack() {
  mkdir -p "$RUN_BIN"
  for b in bench checks; do gunzip -c "$BIN/$b.gz" > "$RUN_BIN/$b" && chmod +x "$RUN_BIN/$b"; done
}

case "$mode" in
  build) build cuda; exit 0 ;;
  --dry-run)
    build wgpu
    device=wgpu; half=f16; ignored=""
    # lavapipe runs kernels on the CPU: a small config and short runs stand in for Phi-3-mini.
    config=tests/fixtures/gqa/config.json; prompt=64; new=16
    export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
    unpack
    ;;
  run)
    device=cuda; half=bf16; ignored="--ignored"
    config=tools/gpu/phi-3-mini-4k-instruct.config.json; prompt=512; new=128
    unpack
    ;;
  *) echo "usage: $0 build | run | --dry-run" >&2; exit 2 ;;
esac

# The test binaries find the fixtures through the variable cargo would set.
export CARGO_MANIFEST_DIR="$PWD"
status=0
results=()

# Runs each GPU check in compute dtype $1 (one process per check: its name filters); records
# pass/fail.
checks() {
  local dtype="$1" log="$OUT/checks-$1.log" test result
  : > "$log"
  for test in oracle every_kernel cached_generation paris; do
    if [ "$test" = paris ] && [ -z "${PHI3_SMOLLM2_GGUF:-}" ]; then
      result="not run (PHI3_SMOLLM2_GGUF unset)"
    elif PHI3_COMPUTE="$dtype" "$RUN_BIN/checks" $ignored --nocapture "$test" >> "$log" 2>&1 \
        && tail -5 "$log" | grep -q "test result: ok. 1 passed"; then
      result=ok
    else
      result=FAILED; status=1
    fi
    echo "[$dtype] $test: $result" >&2
    results+=("\"${test}_${dtype}\": \"$result\"")
    echo "| $test ($dtype) | $result |" >> "$OUT/gpu-check.md"
  done
  local worst
  worst="$(grep -h "logits max |Δ|" "$log" | awk '{ v = $NF + 0; if (v >= m) { m = v; l = $0 } } END { print l }')"
  echo "| worst oracle logits ($dtype) | ${worst/|Δ|/Δ} |" >> "$OUT/gpu-check.md"
}

# Runs the bench with extra options $@; prints its JSON line.
bench() {
  timeout 240 "$RUN_BIN/bench" --device "$device" --random --model "$config" --compute "$half" \
    -p "$prompt" -n "$new" --repeats 3 --json "$@" 2> "$OUT/bench-stderr.log" | tail -1
}

field() { # the number after "$1": in JSON line $2
  grep -o "\"$1\":[0-9.e+-]*" <<< "$2" | head -1 | cut -d: -f2
}

{
  echo "# GPU check ($mode, $(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "device: $device")"
  echo
  echo "| check | result |"
  echo "|---|---|"
} > "$OUT/gpu-check.md"
start=$SECONDS
checks f32
checks "$half"
echo "checks: $((SECONDS - start)) s" >&2

{
  echo
  echo "| model ($config, random weights, $half) | fusion | attention | pp$prompt tok/s | tg$new tok/s | % of HBM bound |"
  echo "|---|---|---|---|---|---|"
} >> "$OUT/gpu-check.md"
runs=()
for variant in "fusion=on attention=auto" "fusion=off attention=auto" "fusion=on attention=fused"; do
  opts=(--attention "${variant#*attention=}")
  [[ "$variant" == fusion=off* ]] && opts+=(--no-fusion)
  json="$(bench "${opts[@]}")"
  if [ -z "$json" ]; then
    echo "| | ${variant% *} | ${variant#* } | failed | failed | |" >> "$OUT/gpu-check.md"
    status=1
    continue
  fi
  runs+=("$json")
  pp="$(field "pp$prompt" "$json")"; tg="$(field "tg$new" "$json")"; params="$(field parameters "$json")"
  # Batch-1 decode reads every weight once per token: 2 bytes each in bf16/f16; an H200 reads
  # about 4.3 TB/s (the bound only means something on the GPU run).
  bound="$(awk -v p="$params" 'BEGIN { printf "%.0f", 4.3e12 / (2 * p) }')"
  pct="$(awk -v t="$tg" -v b="$bound" 'BEGIN { printf "%.1f %% of %d tok/s", 100 * t / b, b }')"
  [ "$mode" = run ] || pct="n/a (not an H200)"
  printf '| | %s | %s | %.1f | %.1f | %s |\n' "${variant% *}" "${variant#* }" \
    "$pp" "$tg" "$pct" >> "$OUT/gpu-check.md"
done
echo "total: $((SECONDS - start)) s" >> "$OUT/gpu-check.md"

{
  echo "{\"mode\": \"$mode\", \"device\": \"$device\", \"seconds\": $((SECONDS - start)),"
  echo " \"checks\": {$(IFS=,; echo "${results[*]}")},"
  echo " \"bench\": [$(IFS=,; echo "${runs[*]}")]}"
} > "$OUT/gpu-check.json"
cat "$OUT/gpu-check.md"
exit $status
