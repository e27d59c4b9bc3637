"""Writes SmolLM2 at F32 and F16 for llama.cpp (same weights as phi3 runs: llama.cpp dequantises
the Q4_1/Q8_0 blocks and stores the values in the requested type).

Usage: requant.py SRC.gguf OUT_DIR
"""

import ctypes
import sys
from pathlib import Path

import llama_cpp

src, out = sys.argv[1], Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
for name, ftype in [("f32", llama_cpp.LLAMA_FTYPE_ALL_F32), ("f16", llama_cpp.LLAMA_FTYPE_MOSTLY_F16)]:
    dest = out / f"SmolLM2-135M-Instruct.{name}.gguf"
    if dest.exists():
        continue
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.allow_requantize = True
    params.nthread = 2
    rc = llama_cpp.llama_model_quantize(src.encode(), str(dest).encode(), ctypes.byref(params))
    assert rc == 0, f"quantize to {name} failed ({rc})"
    print(f"wrote {dest}")
