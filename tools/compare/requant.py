"""Writes SmolLM2 at F32 and F16 (llama.cpp dequantises the Q4_1/Q8_0 blocks and stores the
values in the requested type), and at Q8_0 and Q4_0 quantized from the F16 file with llama.cpp's
own quantizer (its default mix: the tied output in Q8_0, as 576 columns are not whole K-quant
blocks). phi3 and llama.cpp then run the very same files.

Usage: requant.py SRC.gguf OUT_DIR
"""

import ctypes
import sys
from pathlib import Path

import llama_cpp

src, out = sys.argv[1], Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
for name, ftype, base in [
    ("f32", llama_cpp.LLAMA_FTYPE_ALL_F32, None),
    ("f16", llama_cpp.LLAMA_FTYPE_MOSTLY_F16, None),
    ("q8_0", llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0, "f16"),
    ("q4_0", llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0, "f16"),
]:
    dest = out / f"SmolLM2-135M-Instruct.{name}.gguf"
    if dest.exists():
        continue
    source = src if base is None else str(out / f"SmolLM2-135M-Instruct.{base}.gguf")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.allow_requantize = True
    params.nthread = 2
    rc = llama_cpp.llama_model_quantize(source.encode(), str(dest).encode(), ctypes.byref(params))
    assert rc == 0, f"quantize to {name} failed ({rc})"
    print(f"wrote {dest}")
