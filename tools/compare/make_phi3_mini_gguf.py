"""Writes a Phi-3-mini-shaped GGUF with random weights, for speed and memory only (its outputs
mean nothing): microsoft/Phi-3-mini-4k-instruct's configuration (3072 wide, 32 layers, 32 heads,
8192 MLP, 32064 tokens), llama.cpp's `phi3` layout (fused `attn_qkv`, `ffn_up` holding gate and
up), weights N(0, 0.02) quantized with the `gguf` package to Q4_0 or Q8_0 (or kept in F16), norms in F32, and
Phi-3's vocabulary (the test tokenizer's Llama-2 pieces and Phi-3's added tokens, padded to 32064
as llama.cpp's converter pads it) so that llama.cpp loads it too. Never committed: ~2.2 GB (Q4_0),
~4.1 GB (Q8_0), ~7.6 GB (F16).

Usage: make_phi3_mini_gguf.py OUT.gguf q4_0|q8_0|f16
"""

import json
import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFWriter, TokenType
from gguf.quants import quantize

HIDDEN, LAYERS, HEADS, MLP, VOCAB, CONTEXT = 3072, 32, 32, 8192, 32064, 4096

out, kind = sys.argv[1], sys.argv[2]
qtype = {
    "q4_0": GGMLQuantizationType.Q4_0,
    "q8_0": GGMLQuantizationType.Q8_0,
    "f16": GGMLQuantizationType.F16,
}[kind]
rng = np.random.default_rng(0)

w = GGUFWriter(out, "phi3")
w.add_name("phi3-mini-shaped-random")
w.add_context_length(CONTEXT)
w.add_embedding_length(HIDDEN)
w.add_feed_forward_length(MLP)
w.add_block_count(LAYERS)
w.add_head_count(HEADS)
w.add_head_count_kv(HEADS)
w.add_rope_dimension_count(HIDDEN // HEADS)
w.add_rope_freq_base(10000.0)
w.add_layer_norm_rms_eps(1e-5)
w.add_uint32("phi3.rope.scaling.original_context_length", CONTEXT)
w.add_tokenizer_model("llama")
spec = json.loads((Path(__file__).parents[2] / "tests/fixtures/tokenizer/tokenizer.json").read_text())
pieces = {i: t for t, i in spec["model"]["vocab"].items()}
pieces.update({a["id"]: a["content"] for a in spec["added_tokens"]})
tokens, types = [], []
for i in range(VOCAB):
    piece = pieces.get(i, f"<dummy{i}>")
    tokens.append(piece.encode())
    if i == 0:
        types.append(TokenType.UNKNOWN)
    elif i in (1, 2) or 32000 <= i < 32011:
        types.append(TokenType.CONTROL)
    elif piece.startswith("<0x") and len(piece) == 6:
        types.append(TokenType.BYTE)
    elif i >= 32011:
        types.append(TokenType.USER_DEFINED)
    else:
        types.append(TokenType.NORMAL)
w.add_token_list(tokens)
w.add_token_scores([-float(i) for i in range(VOCAB)])
w.add_token_types(types)
w.add_bos_token_id(1)
w.add_eos_token_id(2)


def matrix(name, rows, cols):
    values = rng.normal(0.0, 0.02, size=(rows, cols)).astype(np.float32)
    if qtype == GGMLQuantizationType.F16:
        w.add_tensor(name, values.astype(np.float16))
    else:
        w.add_tensor(name, quantize(values, qtype), raw_dtype=qtype)


def norm(name):
    w.add_tensor(name, np.ones(HIDDEN, dtype=np.float32))


matrix("token_embd.weight", VOCAB, HIDDEN)
for i in range(LAYERS):
    norm(f"blk.{i}.attn_norm.weight")
    matrix(f"blk.{i}.attn_qkv.weight", 3 * HIDDEN, HIDDEN)
    matrix(f"blk.{i}.attn_output.weight", HIDDEN, HIDDEN)
    norm(f"blk.{i}.ffn_norm.weight")
    matrix(f"blk.{i}.ffn_up.weight", 2 * MLP, HIDDEN)
    matrix(f"blk.{i}.ffn_down.weight", HIDDEN, MLP)
    print(f"layer {i + 1}/{LAYERS}", file=sys.stderr)
norm("output_norm.weight")
matrix("output.weight", VOCAB, HIDDEN)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
print(out)
