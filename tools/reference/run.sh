#!/usr/bin/env bash
# Regenerates the oracle fixtures under tests/fixtures/: transformers' Phi3ForCausalLM and
# LlamaForCausalLM (make_fixtures.py), GPT-2 and PyTorch's post-norm encoder layer
# (make_parts_fixtures.py), and the six published Phi-3-family configs with transformers' print
# and parameter count of each full-size model (make_family_prints.py), the published chat files
# (make_chat_fixture.py) and the long-context fixtures at real lengths (make_long_fixtures.py).
# The venv lives in the project's cache (~/.cache/phi3/venv-ref), never in the repository.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${PHI3_CACHE:-$HOME/.cache/phi3}/venv-ref"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$here/requirements.txt"
fi
"$venv/bin/python" "$here/make_fixtures.py" --out "$root/tests/fixtures" "$@"
"$venv/bin/python" "$here/make_parts_fixtures.py" --out "$root/tests/fixtures"
"$venv/bin/python" "$here/make_family_prints.py"
"$venv/bin/python" "$here/make_chat_fixture.py"
"$venv/bin/python" "$here/make_long_fixtures.py"
"$venv/bin/python" "$here/make_gguf_fixture.py"
"$venv/bin/python" "$here/convert_with_llama_cpp.py" "${LLAMA_CPP_DIR:-$HOME/.cache/phi3/llama.cpp-src}"
"$venv/bin/python" "$here/make_repetition_fixture.py"
# llama.cpp's quantizer runs from the venv of tools/compare (it has llama-cpp-python).
"${PHI3_CACHE:-$HOME/.cache/phi3}/venv-compare/bin/python" "$here/quantize_with_llama_cpp.py"
