"""Writes small GGUF files from the oracle fixtures, the way llama.cpp's convert_hf_to_gguf.py lays
them out, so tests can check the GGUF path against transformers' numbers (expected.json):

  tests/fixtures/gguf/phi3-gqa.gguf   from tests/fixtures/gqa   (arch phi3: fused attn_qkv, ffn_up
                                       holding [gate | up], no row permutation)
  tests/fixtures/gguf/llama.gguf      from tests/fixtures/llama (arch llama: Q and K rows permuted
                                       as llama.cpp does)
Tensors are F32, so the GGUF path must reproduce the logits as exactly as the safetensors path.

Usage: ~/.cache/phi3/venv-ref/bin/python tools/reference/make_gguf_fixture.py
"""

import json
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
