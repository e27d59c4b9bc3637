"""Writes small GGUF files from the oracle fixtures, the way llama.cpp's convert_hf_to_gguf.py lays
them out, so tests can check the GGUF path against transformers' numbers (expected.json):

  tests/fixtures/gguf/phi3-gqa.gguf   from tests/fixtures/gqa   (arch phi3: fused attn_qkv, ffn_up
                                       holding [gate | up], no row permutation)
  tests/fixtures/gguf/llama.gguf      from tests/fixtures/llama (arch llama: Q and K rows permuted
                                       as llama.cpp does)
  tests/fixtures/gguf/llama-rope-freqs.gguf  a tiny zero-weight Llama carrying Llama 3.1's
                                       `rope_freqs` tensor, which phi3 does not apply: it must
                                       be a typed error, never plain RoPE in silence
  tests/fixtures/gguf/phi3-longrope.gguf  from tests/fixtures/longrope (LongRoPE as llama.cpp's
                                       converter writes it: `rope_factors_long` / `_short` tensors,
                                       `phi3.rope.scaling.attn_factor` and `.original_context_length`)
Tensors are F32, so the GGUF path must reproduce the logits as exactly as the safetensors path.

Usage: ~/.cache/phi3/venv-ref/bin/python tools/reference/make_gguf_fixture.py
"""

import json
import math
from pathlib import Path

import gguf
import numpy as np
from safetensors.numpy import load_file

ROOT = Path(__file__).resolve().parents[2] / "tests/fixtures"


def permute(w, n_head):
    """llama.cpp's Q/K permutation: half-split (rotate_half) rows → interleaved pairs."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write(src, dest, arch, matrix_dtype):
    cfg = json.loads((ROOT / src / "config.json").read_text())
    t = load_file(ROOT / src / "model.safetensors")
    w = gguf.GGUFWriter(str(ROOT / "gguf" / dest), arch)
    heads, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_rope_freq_base(cfg.get("rope_parameters", {}).get("rope_theta", 10000.0))
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_rope_dimension_count(cfg["hidden_size"] // heads)
    w.add_vocab_size(cfg["vocab_size"])
    rope = cfg.get("rope_parameters") or cfg.get("rope_scaling") or {}
    if (rope.get("rope_type") or rope.get("type")) in ("longrope", "su"):
        # convert_hf_to_gguf.py's Phi3MiniModel: the attention factor it computes, the
        # pre-training length, and the two factor lists as F32 tensors.
        original = cfg["original_max_position_embeddings"]
        scale = cfg["max_position_embeddings"] / original
        attn = math.sqrt(1 + math.log(scale) / math.log(original)) if scale > 1.0 else 1.0
        w.add_rope_scaling_attn_factors(attn)
        w.add_rope_scaling_orig_ctx_len(original)
        w.add_tensor("rope_factors_long.weight", np.array(rope["long_factor"], dtype=np.float32))
        w.add_tensor("rope_factors_short.weight", np.array(rope["short_factor"], dtype=np.float32))

    def mat(name, array):
        w.add_tensor(name, array.astype(matrix_dtype))

    mat("token_embd.weight", t["model.embed_tokens.weight"])
    for n in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{n}"
        w.add_tensor(f"blk.{n}.attn_norm.weight", t[f"{p}.input_layernorm.weight"])
        w.add_tensor(f"blk.{n}.ffn_norm.weight", t[f"{p}.post_attention_layernorm.weight"])
        if arch == "phi3":
            mat(f"blk.{n}.attn_qkv.weight", t[f"{p}.self_attn.qkv_proj.weight"])
            mat(f"blk.{n}.ffn_up.weight", t[f"{p}.mlp.gate_up_proj.weight"])
        else:
            mat(f"blk.{n}.attn_q.weight", permute(t[f"{p}.self_attn.q_proj.weight"], heads))
            mat(f"blk.{n}.attn_k.weight", permute(t[f"{p}.self_attn.k_proj.weight"], kv))
            mat(f"blk.{n}.attn_v.weight", t[f"{p}.self_attn.v_proj.weight"])
            mat(f"blk.{n}.ffn_gate.weight", t[f"{p}.mlp.gate_proj.weight"])
            mat(f"blk.{n}.ffn_up.weight", t[f"{p}.mlp.up_proj.weight"])
        mat(f"blk.{n}.attn_output.weight", t[f"{p}.self_attn.o_proj.weight"])
        mat(f"blk.{n}.ffn_down.weight", t[f"{p}.mlp.down_proj.weight"])
    w.add_tensor("output_norm.weight", t["model.norm.weight"])
    mat("output.weight", t["lm_head.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"wrote {dest}")


# F32 so the GGUF path must reproduce transformers' logits exactly as the safetensors path does.
write("gqa", "phi3-gqa.gguf", "phi3", np.float32)
write("llama", "llama.gguf", "llama", np.float32)
write("longrope", "phi3-longrope.gguf", "phi3", np.float32)


def write_rope_freqs():
    hidden, heads, ff, vocab = 8, 2, 16, 8
    w = gguf.GGUFWriter(str(ROOT / "gguf" / "llama-rope-freqs.gguf"), "llama")
    w.add_context_length(32)
    w.add_embedding_length(hidden)
    w.add_feed_forward_length(ff)
    w.add_block_count(1)
    w.add_head_count(heads)
    w.add_head_count_kv(heads)
    w.add_rope_freq_base(500000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(hidden // heads)
    w.add_vocab_size(vocab)
    zeros = lambda *shape: np.zeros(shape, dtype=np.float32)
    w.add_tensor("rope_freqs.weight", np.ones(hidden // heads // 2, dtype=np.float32))
    w.add_tensor("token_embd.weight", zeros(vocab, hidden))
    w.add_tensor("blk.0.attn_norm.weight", zeros(hidden))
    w.add_tensor("blk.0.ffn_norm.weight", zeros(hidden))
    for name in ["attn_q", "attn_k", "attn_v", "attn_output"]:
        w.add_tensor(f"blk.0.{name}.weight", zeros(hidden, hidden))
    w.add_tensor("blk.0.ffn_gate.weight", zeros(ff, hidden))
    w.add_tensor("blk.0.ffn_up.weight", zeros(ff, hidden))
    w.add_tensor("blk.0.ffn_down.weight", zeros(hidden, ff))
    w.add_tensor("output_norm.weight", zeros(hidden))
    w.add_tensor("output.weight", zeros(vocab, hidden))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print("wrote llama-rope-freqs.gguf")


write_rope_freqs()
