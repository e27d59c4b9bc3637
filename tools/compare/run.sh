#!/usr/bin/env bash
# Side by side on the same machine, model, prompt lengths and thread count: phi3 (this library),
# transformers on PyTorch CPU, and llama.cpp (PyPI llama-cpp-python), at f32 and at 16-bit
# weights, and phi3 against llama.cpp on the same quantized files (SmolLM2's own Q4_1, and the
# Q8_0 and Q4_0 files llama.cpp's quantizer writes), weights kept as stored by both.
# SmolLM2-135M-Instruct; pp128, pp512, tg100; 2 threads; runs alternate between the peers. Prints
# a markdown table of medians with each peer's ratio to phi3.
#
# Usage: tools/compare/run.sh [rounds] [widths]   (widths: any of f32 16bit q4_1 q8_0 q4_0;
#                                                  venv in ~/.cache/phi3/venv-compare)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${PHI3_CACHE:-$HOME/.cache/phi3}"
venv="$cache/venv-compare"
rounds="${1:-2}"
widths="${2:-f32 16bit q4_1 q8_0 q4_0}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import llama_cpp, transformers" 2>/dev/null; then
  python3 -m venv "$venv"
  CMAKE_BUILD_PARALLEL_LEVEL=2 "$venv/bin/pip" install -q -r "$here/requirements.txt"
fi
model="$("$root/tools/fetch-smollm2.sh")"
"$venv/bin/python" "$here/requant.py" "$model" "$cache/models" >&2
(cd "$root" && cargo build --release --example bench >&2)
bench="$CARGO_TARGET_DIR/release/examples/bench"
out="$(mktemp)"
common=(-p 128,512 -n 100 --repeats 3)
llama() { "$venv/bin/python" "$here/peers.py" llama.cpp --gguf "$1" --threads 2 "${common[@]}"; }
file() { echo "$cache/models/SmolLM2-135M-Instruct.$1.gguf"; }
for round in $(seq "$rounds"); do
  echo "round $round/$rounds" >&2
  for width in $widths; do
    case "$width" in
      f32)
        "$bench" --model "$model" --dtype f32 --threads 2 --json "${common[@]}" | sed 's/^/phi3 f32 /' >> "$out"
        "$venv/bin/python" "$here/peers.py" transformers --gguf "$model" --dtype f32 --threads 2 "${common[@]}" 2>/dev/null | sed 's/^/transformers f32 /' >> "$out"
        llama "$(file f32)" | sed 's/^/llama.cpp f32 /' >> "$out" ;;
      16bit)
        "$bench" --model "$model" --dtype f16 --threads 2 --json "${common[@]}" | sed 's/^/phi3 16bit /' >> "$out"
        "$venv/bin/python" "$here/peers.py" transformers --gguf "$model" --dtype bf16 --threads 2 "${common[@]}" 2>/dev/null | sed 's/^/transformers 16bit /' >> "$out"
        llama "$(file f16)" | sed 's/^/llama.cpp 16bit /' >> "$out" ;;
      q4_1|q8_0|q4_0)
        f="$model"; [ "$width" = q4_1 ] || f="$(file "$width")"
        "$bench" --model "$f" --dtype stored --threads 2 --json "${common[@]}" | sed "s/^/phi3 $width /" >> "$out"
        llama "$f" | sed "s/^/llama.cpp $width /" >> "$out" ;;
    esac
  done
done
"$venv/bin/python" - "$out" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    peer, width, payload = line.split(" ", 2)
    for test, tps in json.loads(payload)["tokens_per_s"].items():
        rows.setdefault((width, test), {}).setdefault(peer, []).append(tps)
print("| weights | test | phi3 (tok/s) | transformers (tok/s) | ratio | llama.cpp (tok/s) | ratio |")
print("|---|---|---|---|---|---|---|")
order = {w: i for i, w in enumerate(["f32", "16bit", "q4_1", "q8_0", "q4_0"])}
for (width, test), peers in sorted(rows.items(), key=lambda kv: (order[kv[0][0]], kv[0][1])):
    med = {p: statistics.median(v) for p, v in peers.items()}
    ours = med.get("phi3", float("nan"))
    cells = []
    for p in ["transformers", "llama.cpp"]:
        if p not in med:
            cells += ["—", "—"]
            continue
        v = med[p]
        cells += [f"{v:.1f}", f"{v / ours:.2f}×"]
    label = {
        "f32": "f32",
        "16bit": "16-bit (phi3 f16, transformers bf16, llama.cpp f16)",
        "q4_1": "Q4_1 as stored (SmolLM2's file)",
        "q8_0": "Q8_0 as stored (llama.cpp's quantizer)",
        "q4_0": "Q4_0 as stored (llama.cpp's quantizer)",
    }[width]
    print(f"| {label} | {test} | {ours:.1f} | " + " | ".join(cells) + " |")
PY
