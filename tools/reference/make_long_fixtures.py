"""Long-context fixtures at real lengths on narrow models (transformers' Phi3ForCausalLM, eager,
f32), under tests/fixtures/:

  long_window/  Phi-3-mini-4k's positions: max_position_embeddings 4096, sliding_window 2047,
                plain RoPE; a 4,000-token prompt (every query past 2,047 sees only its window).
  long_rope/    Phi-3-mini-128k's: max_position_embeddings 131072, original 4096, the published
                LongRoPE factor lists (48 + 48: head_dim 96), sliding_window 262144 (wider than
                the context: no window); a 4,090-token prompt whose greedy run crosses 4,096 at
                its 7th new token (transformers then drops the cache and recomputes the whole
                sequence with the long factors).

expected.json: the prompt, logits at chosen positions (`positions`, `logits`), and the greedy
continuation (model.generate, do_sample=False, cache on). Each also as GGUF F32 the way llama.cpp's
converter lays out `phi3` (tests/fixtures/gguf/long_window.gguf, long_rope.gguf): fused tensors,
`phi3.attention.sliding_window`, LongRoPE's `rope_factors_long` / `_short` and
`phi3.rope.scaling.*`.

Usage: make_long_fixtures.py   (venv: tools/reference/requirements.txt)
"""

import json
import math
import shutil
from pathlib import Path

import gguf
import numpy as np
import torch
from safetensors.numpy import load_file
from transformers import Phi3Config, Phi3ForCausalLM

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures"
REFERENCE = ROOT.parent / "shared" / "reference"
VOCAB = 256


def base(**overrides):
    cfg = dict(
        vocab_size=VOCAB, hidden_size=96, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=1, num_key_value_heads=1, rms_norm_eps=1e-5, rope_theta=10000.0,
        bos_token_id=1, eos_token_id=2, pad_token_id=0, initializer_range=0.15,
        tie_word_embeddings=False,
    )
    cfg.update(overrides)
    return cfg


def build(name, cfg, prompt_len, new_tokens, positions, seed):
    gen = torch.Generator().manual_seed(seed)
    config = Phi3Config(**cfg)
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = Phi3ForCausalLM(config).eval()
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "layernorm" in n or n == "model.norm.weight":
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=gen))
    ids = torch.randint(3, VOCAB, (1, prompt_len), generator=gen)
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0]
        seq = model.generate(
            ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
            min_new_tokens=new_tokens, do_sample=False, use_cache=True, eos_token_id=None,
            pad_token_id=0,
        )
        full = model(input_ids=seq).logits[0, prompt_len - 1 : -1]
    top2 = torch.topk(full, 2, dim=-1).values
    margin = float((top2[:, 0] - top2[:, 1]).min())
    expected = {
        "fixture": name, "seed": seed, "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "input_ids": ids[0].tolist(),
        "positions": positions,
        "logits": [logits[p].tolist() for p in positions],
        "new_ids": seq[0, prompt_len:].tolist(),
        "min_top2_margin": margin,
    }
    path = OUT / name
    if path.exists():
        shutil.rmtree(path)
    model.save_pretrained(path)
    (path / "generation_config.json").unlink(missing_ok=True)
    (path / "expected.json").write_text(json.dumps(expected))
    return model, margin


def write_gguf(name, cfg):
    t = load_file(OUT / name / "model.safetensors")
    w = gguf.GGUFWriter(str(OUT / "gguf" / f"{name}.gguf"), "phi3")
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg["num_key_value_heads"])
    w.add_rope_freq_base(cfg["rope_theta"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_rope_dimension_count(cfg["hidden_size"] // cfg["num_attention_heads"])
    w.add_vocab_size(cfg["vocab_size"])
    if cfg.get("sliding_window"):
        w.add_sliding_window(cfg["sliding_window"])
    scaling = cfg.get("rope_scaling")
    if scaling:
        original = cfg["original_max_position_embeddings"]
        scale = cfg["max_position_embeddings"] / original
        w.add_rope_scaling_attn_factors(
            math.sqrt(1 + math.log(scale) / math.log(original)) if scale > 1.0 else 1.0
        )
        w.add_rope_scaling_orig_ctx_len(original)
        w.add_tensor("rope_factors_long.weight", np.array(scaling["long_factor"], dtype=np.float32))
        w.add_tensor("rope_factors_short.weight", np.array(scaling["short_factor"], dtype=np.float32))
    w.add_tensor("token_embd.weight", t["model.embed_tokens.weight"])
    for n in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{n}"
        w.add_tensor(f"blk.{n}.attn_norm.weight", t[f"{p}.input_layernorm.weight"])
        w.add_tensor(f"blk.{n}.ffn_norm.weight", t[f"{p}.post_attention_layernorm.weight"])
        w.add_tensor(f"blk.{n}.attn_qkv.weight", t[f"{p}.self_attn.qkv_proj.weight"])
        w.add_tensor(f"blk.{n}.attn_output.weight", t[f"{p}.self_attn.o_proj.weight"])
        w.add_tensor(f"blk.{n}.ffn_up.weight", t[f"{p}.mlp.gate_up_proj.weight"])
        w.add_tensor(f"blk.{n}.ffn_down.weight", t[f"{p}.mlp.down_proj.weight"])
    w.add_tensor("output_norm.weight", t["model.norm.weight"])
    w.add_tensor("output.weight", t["lm_head.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    torch.set_num_threads(2)
    published = json.loads((REFERENCE / "phi-3-mini-128k-instruct.config.json").read_text())
    specs = [
        (
            "long_window",
            base(max_position_embeddings=4096, original_max_position_embeddings=4096,
                 sliding_window=2047),
            4000, 8, [0, 1000, 2046, 2047, 2048, 3000, 3998, 3999],
        ),
        (
            "long_rope",
            base(max_position_embeddings=131072, original_max_position_embeddings=4096,
                 sliding_window=262144,
                 rope_scaling={"type": "longrope",
                               "short_factor": published["rope_scaling"]["short_factor"],
                               "long_factor": published["rope_scaling"]["long_factor"]}),
            4090, 12, [0, 2047, 4089],
        ),
    ]
    for name, cfg, prompt_len, new_tokens, positions in specs:
        for attempt in range(20):
            seed = 7000 + attempt
            model, margin = build(name, cfg, prompt_len, new_tokens, positions, seed)
            if margin > 2e-3:
                break
        else:
            raise SystemExit(f"{name}: no seed gave a clear greedy margin")
        write_gguf(name, cfg)
        exp = json.loads((OUT / name / "expected.json").read_text())
        # The feature under test must change the numbers.
        ids = torch.tensor([exp["input_ids"]])
        if name == "long_window":
            model.config.sliding_window = None
            with torch.no_grad():
                other = model(input_ids=ids).logits[0, -1]
        else:
            with torch.no_grad():
                seq = model.generate(
                    ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                    min_new_tokens=new_tokens, do_sample=False, use_cache=False,
                    eos_token_id=None, pad_token_id=0,
                )
            other = None
            # Without the recompute, transformers would keep short-factor keys: compare the
            # uncached run (every step recomputed) to be sure both agree (they must).
            assert seq[0, prompt_len:].tolist() == exp["new_ids"], "uncached greedy differs"
        if other is not None:
            diff = (other - torch.tensor(exp["logits"][-1])).abs().max().item()
            assert diff > 1e-2, f"{name}: the window changed nothing ({diff})"
            print(f"{name}: the window changes the last logits by {diff:.3f}")
        size = sum(f.stat().st_size for f in (OUT / name).iterdir())
        print(f"{name}: seed {seed}, margin {margin:.4f}, {size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
