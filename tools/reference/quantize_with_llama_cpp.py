"""Quantizes the llama.cpp-converted gqa fixture (tests/fixtures/gguf/converted/gqa.gguf, F32)
with llama.cpp's own quantizer (llama-cpp-python's `llama_model_quantize`) to Q4_0 and Q4_1, and
writes its F16, for tests/gguf_converted.rs. Run with the venv of tools/compare (it has
llama-cpp-python).

Usage: quantize_with_llama_cpp.py
"""

import ctypes
from pathlib import Path

import llama_cpp

out = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "gguf" / "converted"
source = out / "gqa.gguf"
for name, ftype in [
    ("f16", llama_cpp.LLAMA_FTYPE_MOSTLY_F16),
    ("q4_0", llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0),
    ("q4_1", llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_1),
]:
    dest = out / f"gqa.{name}.gguf"
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = 2
    rc = llama_cpp.llama_model_quantize(str(source).encode(), str(dest).encode(), ctypes.byref(params))
    assert rc == 0, f"quantize to {name} failed ({rc})"
    print(f"wrote {dest.name} ({dest.stat().st_size / 1024:.0f} KiB)")
