"""Build tiny random Phi-3 checkpoints with transformers and record what Phi3ForCausalLM computes.

Every fixture directory under --out holds:
  config.json, model.safetensors (or shards + model.safetensors.index.json)  -- save_pretrained
  expected.json -- the oracle's outputs:
    cases[]: input_ids, logits (every position), argmax (every position),
             last_hidden (final-norm hidden state at the last position)
    greedy:  input_ids, new_ids (model.generate, do_sample=False, KV cache on)

All models use attn_implementation="eager" and float32 compute. Seeds are fixed, so running this
again reproduces the committed files bit for bit on the same torch/transformers versions.
"""

import argparse
import json
import math
import shutil
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM, Phi3Config, Phi3ForCausalLM

VOCAB = 256

BASE = dict(
    vocab_size=VOCAB,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=4,
    max_position_embeddings=128,
    original_max_position_embeddings=128,
    rms_norm_eps=1e-5,
    rope_theta=10000.0,
    bos_token_id=1,
    eos_token_id=2,
    pad_token_id=0,
    # Larger than the hub's 0.02 so that logits are well separated and argmax is stable.
    initializer_range=0.15,
    tie_word_embeddings=False,
    sliding_window=None,
)


def fixture_specs():
    """(name, config overrides, prompt lengths, greedy prompt length, new tokens, extra)."""
    return [
        ("mha", {}, [12], 8, 20, {}),
        ("gqa", dict(num_attention_heads=8, num_key_value_heads=2), [12], 8, 20, {}),
        ("mqa", dict(num_attention_heads=4, num_key_value_heads=1), [12], 8, 20, {}),
        # Window smaller than the prompt; greedy prompt + generation runs far past it.
        ("sliding_window", dict(sliding_window=5), [16], 10, 20, {}),
        # LongRoPE: one prompt below original_max_position_embeddings (short factors), one above
        # it (long factors); the greedy run starts below and crosses it.
        (
            "longrope",
            dict(
                max_position_embeddings=64,
                original_max_position_embeddings=16,
                rope_scaling=None,  # filled in below, needs head_dim
            ),
            [10, 24],
            12,
            12,
            {"longrope": True},
        ),
        ("partial_rotary_tied", dict(partial_rotary_factor=0.5, tie_word_embeddings=True), [12], 8, 20, {}),
        ("bf16", dict(num_attention_heads=8, num_key_value_heads=2), [12], 8, 20, {"dtype": torch.bfloat16}),
        ("sharded", dict(num_attention_heads=8, num_key_value_heads=2), [12], 8, 20, {"shard": "150KB"}),
        # A Hugging Face LlamaForCausalLM directory: separate q/k/v and gate/up projections.
        ("llama", dict(num_attention_heads=8, num_key_value_heads=2), [12], 8, 20, {"llama": True}),
    ]


def longrope_factors(rotary_dim, gen):
    half = rotary_dim // 2
    short = [1.0 + 0.05 * i for i in range(half)]
    long = [float(x) for x in (1.0 + 4.0 * torch.rand(half, generator=gen)).tolist()]
    return short, long


def margin_ok(logits):
    top2 = torch.topk(logits, 2, dim=-1).values
    return float((top2[..., 0] - top2[..., 1]).min())


def record_case(model, ids):
    with torch.no_grad():
        out = model.model(input_ids=ids)
        hidden = out.last_hidden_state
        logits = model.lm_head(hidden)
    return {
        "input_ids": ids[0].tolist(),
        "logits": logits[0].tolist(),
        "argmax": logits[0].argmax(-1).tolist(),
        "last_hidden": hidden[0, -1].tolist(),
    }, margin_ok(logits[0])


def build(name, overrides, prompt_lens, greedy_len, new_tokens, extra, out_dir, seed):
    cfg = dict(BASE)
    cfg.update(overrides)
    gen = torch.Generator().manual_seed(seed)
    if extra.get("longrope"):
        head_dim = cfg["hidden_size"] // cfg["num_attention_heads"]
        short, long = longrope_factors(head_dim, gen)
        cfg["rope_scaling"] = {"type": "longrope", "short_factor": short, "long_factor": long}
    if extra.get("llama"):
        for key in ["original_max_position_embeddings", "sliding_window"]:
            cfg.pop(key)
        config = LlamaConfig(**cfg)
        model_class = LlamaForCausalLM
    else:
        config = Phi3Config(**cfg)
        model_class = Phi3ForCausalLM
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = model_class(config).eval()
    # Random norm weights too, so a wrong norm implementation cannot hide behind ones.
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "layernorm" in n or n == "model.norm.weight":
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=gen))

    dtype = extra.get("dtype")
    if dtype is not None:
        # The checkpoint is stored in bf16; the oracle computes in f32 from exactly those bf16
        # values, which is what this library does after loading (it upcasts at load time).
        # Round the parameters through bf16 on a state dict: `model.to(bf16)` would also round
        # the RoPE inv_freq buffer, which transformers never stores in a checkpoint.
        rounded = {k: v.to(dtype).float() for k, v in model.state_dict().items()}
        model = model_class(config).eval()
        model.load_state_dict(rounded)
        model_to_save = model_class(config).eval()
        model_to_save.load_state_dict(rounded)
        model_to_save = model_to_save.to(dtype)
    else:
        model_to_save = model

    cases = []
    worst = math.inf
    for n in prompt_lens:
        ids = torch.randint(3, VOCAB, (1, n), generator=gen)
        case, margin = record_case(model, ids)
        cases.append(case)
        worst = min(worst, margin)

    greedy_ids = torch.randint(3, VOCAB, (1, greedy_len), generator=gen)
    with torch.no_grad():
        seq = model.generate(
            greedy_ids,
            attention_mask=torch.ones_like(greedy_ids),
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=False,
            use_cache=True,
            eos_token_id=None,
            pad_token_id=0,
        )
        # Margins along the greedy path too: the continuation must be decided clearly.
        full = model(input_ids=seq).logits[0, greedy_len - 1 : -1]
    worst = min(worst, margin_ok(full))
    new_ids = seq[0, greedy_len:].tolist()

    expected = {
        "fixture": name,
        "seed": seed,
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "stored_dtype": str(dtype or torch.float32).replace("torch.", ""),
        "min_top2_margin": worst,
        "cases": cases,
        "greedy": {"input_ids": greedy_ids[0].tolist(), "new_ids": new_ids},
    }
    if extra.get("longrope") or cfg.get("sliding_window"):
        expected["note"] = "see make_fixtures.py for what this fixture exercises"

    path = out_dir / name
    if path.exists():
        shutil.rmtree(path)
    save_kwargs = {}
    if "shard" in extra:
        save_kwargs["max_shard_size"] = extra["shard"]
    model_to_save.save_pretrained(path, **save_kwargs)
    for junk in ["generation_config.json"]:
        (path / junk).unlink(missing_ok=True)
    with open(path / "expected.json", "w") as f:
        json.dump(expected, f)
    return worst


def sanity_checks(out_dir):
    """The features under test must change the numbers, or the fixture proves nothing."""
    # Sliding window: the same weights without the window must give different last logits.
    path = out_dir / "sliding_window"
    m = Phi3ForCausalLM.from_pretrained(path, attn_implementation="eager").eval()
    exp = json.loads((path / "expected.json").read_text())
    ids = torch.tensor([exp["cases"][0]["input_ids"]])
    m.config.sliding_window = None
    with torch.no_grad():
        no_window = m(input_ids=ids).logits[0, -1]
    diff = (no_window - torch.tensor(exp["cases"][0]["logits"][-1])).abs().max().item()
    assert diff > 1e-2, f"sliding window had no effect ({diff})"
    print(f"sliding_window: window changes last logits by {diff:.3f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    for i, (name, overrides, lens, glen, new, extra) in enumerate(fixture_specs()):
        # Retry seeds until every argmax (and every greedy step) wins by a clear margin, so that
        # float rounding differences cannot flip a token.
        for attempt in range(20):
            seed = 1000 * (i + 1) + attempt
            margin = build(name, overrides, lens, glen, new, extra, args.out, seed)
            if margin > 2e-3:
                break
        else:
            raise SystemExit(f"{name}: no seed gave a clear argmax margin")
        size = sum(f.stat().st_size for f in (args.out / name).iterdir())
        print(f"{name}: seed {seed}, min top-2 margin {margin:.4f}, {size / 1024:.0f} KiB")
        assert size < 1_000_000, f"{name} is over 1 MB"
    sanity_checks(args.out)


if __name__ == "__main__":
    main()
