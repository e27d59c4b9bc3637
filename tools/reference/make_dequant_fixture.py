"""Records the Python `gguf` package's dequantisation of real blocks of every GGML type phi3
reads, as tests/fixtures/gguf/dequant.json (checked by crates/phi3-core/tests/dequant.rs).

Blocks come from three places:
  - the real SmolLM2-135M-Instruct.Q4_1.gguf (Q4_1, Q8_0 and F32 tensors), when its path is given;
  - gguf.quants.quantize on seeded random data, for the types gguf-py can quantise;
  - seeded random bytes with sane f16 scale fields, for the K-quants (any bit pattern of the quant
    fields is a valid block).

Usage: ~/.cache/phi3/venv-ref/bin/python tools/reference/make_dequant_fixture.py [SmolLM2.gguf]
"""

from importlib.metadata import version
import json
import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize, quantize

rng = np.random.default_rng(1234)
cases = []


def record(name, qtype, raw: np.ndarray, n_values):
    raw = np.ascontiguousarray(raw, dtype=np.uint8).reshape(-1)
    values = dequantize(raw.reshape(1, -1), qtype).reshape(-1)
    assert values.size == n_values
    cases.append({
        "name": name,
        "type": qtype.name,
        "bytes": raw.tolist(),
        "values": [float(v) for v in values],
    })


def f16_bytes(x):
    return np.frombuffer(np.float16(x).tobytes(), dtype=np.uint8)


# Quantised by gguf-py itself.
for qtype in [T.F32, T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1]:
    block, _ = GGML_QUANT_SIZES[qtype]
    n = max(block, 32) * 4
    data = rng.normal(0, 1, size=(1, n)).astype(np.float32)
    raw = quantize(data, qtype)
    record(f"quantized {qtype.name}", qtype, raw.view(np.uint8), n)

# K-quants: random quant bits, f16 scale fields set to sane values.
for qtype in [T.Q4_K, T.Q5_K, T.Q6_K]:
    block, size = GGML_QUANT_SIZES[qtype]
    blocks = rng.integers(0, 256, size=(3, size), dtype=np.uint8)
    for b in blocks:
        if qtype == T.Q6_K:
            b[-2:] = f16_bytes(rng.uniform(0.001, 0.05))  # d is last
        else:
            b[0:2] = f16_bytes(rng.uniform(0.001, 0.05))  # d
            b[2:4] = f16_bytes(rng.uniform(0.001, 0.05))  # dmin
    record(f"random {qtype.name}", qtype, blocks, 3 * block)

# Real blocks from SmolLM2.
if len(sys.argv) > 1:
    reader = GGUFReader(sys.argv[1])
    wanted = {"token_embd.weight", "blk.0.attn_q.weight", "blk.0.attn_norm.weight"}
    for t in reader.tensors:
        if t.name in wanted:
            block, size = GGML_QUANT_SIZES[t.tensor_type]
            raw = np.asarray(t.data).view(np.uint8).reshape(-1)[: size * 8]
            record(f"SmolLM2 {t.name}", t.tensor_type, raw, block * 8)

out = Path(__file__).resolve().parents[2] / "tests/fixtures/gguf/dequant.json"
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps({"gguf": version("gguf"), "cases": cases}) + "\n")
print(f"wrote {len(cases)} cases to {out}")
