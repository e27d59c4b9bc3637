"""Writes a Phi-3-mini-shaped checkpoint directory as `transformers` saves one, for speed and
memory only (its outputs mean nothing): microsoft/Phi-3-mini-4k-instruct's `config.json` (copied
from ../shared/reference when present, else written from the same figures), random weights
N(0, 0.02) in f16 (norms 1.0), in sharded safetensors files of about 2 GB with their
`model.safetensors.index.json`. Never committed: ~7.6 GB.

Usage: make_phi3_mini_safetensors.py OUT_DIR
"""

import json
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

HIDDEN, LAYERS, HEADS, MLP, VOCAB, CONTEXT = 3072, 32, 32, 8192, 32064, 4096
SHARD_BYTES = 2 << 30

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
reference = Path(__file__).resolve().parents[3] / "shared/reference/phi-3-mini-4k-instruct.config.json"
if reference.is_file():
    config = json.loads(reference.read_text())
else:
    config = {
        "architectures": ["Phi3ForCausalLM"],
        "model_type": "phi3",
        "hidden_size": HIDDEN,
        "intermediate_size": MLP,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": HEADS,
        "max_position_embeddings": CONTEXT,
        "original_max_position_embeddings": CONTEXT,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "sliding_window": 2047,
        "vocab_size": VOCAB,
        "tie_word_embeddings": False,
        "bos_token_id": 1,
        "eos_token_id": 32000,
        "pad_token_id": 32000,
    }
config["torch_dtype"] = "float16"
(out / "config.json").write_text(json.dumps(config, indent=2))

rng = np.random.default_rng(0)


def tensors():
    yield "model.embed_tokens.weight", (VOCAB, HIDDEN)
    for i in range(LAYERS):
        p = f"model.layers.{i}"
        yield f"{p}.input_layernorm.weight", (HIDDEN,)
        yield f"{p}.self_attn.qkv_proj.weight", (3 * HIDDEN, HIDDEN)
        yield f"{p}.self_attn.o_proj.weight", (HIDDEN, HIDDEN)
        yield f"{p}.post_attention_layernorm.weight", (HIDDEN,)
        yield f"{p}.mlp.gate_up_proj.weight", (2 * MLP, HIDDEN)
        yield f"{p}.mlp.down_proj.weight", (HIDDEN, MLP)
    yield "model.norm.weight", (HIDDEN,)
    yield "lm_head.weight", (VOCAB, HIDDEN)


# Shards planned from the shapes first, so that each is written (and freed) as it fills.
plan, current, size = [], [], 0
for name, shape in tensors():
    nbytes = 2 * int(np.prod(shape))
    if current and size + nbytes > SHARD_BYTES:
        plan.append(current)
        current, size = [], 0
    current.append((name, shape))
    size += nbytes
plan.append(current)

weight_map, total = {}, 0
for i, names in enumerate(plan):
    file = f"model-{i + 1:05d}-of-{len(plan):05d}.safetensors"
    shard = {}
    for name, shape in names:
        if len(shape) == 1:
            shard[name] = np.ones(shape, dtype=np.float16)
        else:
            shard[name] = rng.normal(0.0, 0.02, size=shape).astype(np.float16)
        weight_map[name] = file
        total += shard[name].nbytes
    save_file(shard, str(out / file), metadata={"format": "pt"})
    print(f"{file}: {len(shard)} tensors", file=sys.stderr)
index = {"metadata": {"total_size": total}, "weight_map": weight_map}
(out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
print(out)
