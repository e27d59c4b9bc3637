"""Oracles for compositions other than Phi-3, built from the library's parts in Rust.

  gpt2/       transformers' GPT2LMHeadModel (tiny, random, seeded): learned absolute positions,
              pre-norm LayerNorm with random gains and biases, GELU (tanh) MLP, multi-head
              attention with a fused `c_attn` and biases, lm_head tied to the embedding.
              save_pretrained: config.json + model.safetensors (Conv1D weights stored [in, out]).
  post_norm/  PyTorch's own nn.TransformerEncoderLayer(norm_first=False, activation="relu") stack
              with a causal mask and the original Transformer's sinusoidal positions added to the
              embedding, then a bias-free lm_head: post-norm LayerNorm + ReLU MLP + MHA with
              biases. model.safetensors with PyTorch's state_dict names, and a config.json in
              phi3's Phi3Config form giving the sizes.

expected.json (as make_fixtures.py): cases[] with logits and argmax at every position, and a greedy
continuation computed by rerunning the full forward each step (no cache), the definition the
library's cached and uncached decoding must both reproduce.
"""

import argparse
import copy
import json
import math
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel

VOCAB = 256


def margin(logits):
    top2 = torch.topk(logits, 2, dim=-1).values
    return float((top2[..., 0] - top2[..., 1]).min())


def greedy(forward, ids, new_tokens):
    seq = ids
    worst = math.inf
    with torch.no_grad():
        for _ in range(new_tokens):
            last = forward(seq)[0, -1]
            worst = min(worst, margin(last))
            seq = torch.cat([seq, last.argmax().view(1, 1)], dim=1)
    return seq[0, ids.shape[1] :].tolist(), worst


def record(forward, gen, prompt_lens, greedy_len, new_tokens):
    cases, worst = [], math.inf
    with torch.no_grad():
        for n in prompt_lens:
            ids = torch.randint(3, VOCAB, (1, n), generator=gen)
            logits = forward(ids)[0]
            cases.append(
                {
                    "input_ids": ids[0].tolist(),
                    "logits": logits.tolist(),
                    "argmax": logits.argmax(-1).tolist(),
                }
            )
            worst = min(worst, margin(logits))
    prompt = torch.randint(3, VOCAB, (1, greedy_len), generator=gen)
    new_ids, greedy_margin = greedy(forward, prompt, new_tokens)
    return cases, {"input_ids": prompt[0].tolist(), "new_ids": new_ids}, min(worst, greedy_margin)


def perturb_norms_and_biases(model, gen):
    """Real gains and biases: a wrong LayerNorm or a dropped bias cannot hide behind 1 and 0."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "ln" in name or "norm" in name:
                if name.endswith("weight"):
                    p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=gen))
                else:
                    p.copy_(0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))


def write(path, expected, seed, worst):
    expected.update(
        seed=seed,
        torch=torch.__version__,
        transformers=__import__("transformers").__version__,
        min_top2_margin=worst,
    )
    with open(path / "expected.json", "w") as f:
        json.dump(expected, f)


def build_gpt2(out, seed):
    gen = torch.Generator().manual_seed(seed)
    config = GPT2Config(
        vocab_size=VOCAB,
        n_positions=64,
        n_embd=64,
        n_layer=2,
        n_head=4,
        activation_function="gelu_new",
        layer_norm_epsilon=1e-5,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        initializer_range=0.15,
        bos_token_id=1,
        eos_token_id=2,
    )
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config).eval()
    perturb_norms_and_biases(model, gen)
    forward = lambda ids: model(input_ids=ids).logits  # noqa: E731
    cases, greedy_run, worst = record(forward, gen, [12], 8, 20)
    path = out / "gpt2"
    if path.exists():
        shutil.rmtree(path)
    model.save_pretrained(path)
    (path / "generation_config.json").unlink(missing_ok=True)
    write(path, {"fixture": "gpt2", "cases": cases, "greedy": greedy_run}, seed, worst)
    return worst


def sinusoids(positions, width):
    """PE(p, 2i) = sin(p / 10000^(2i/d)), PE(p, 2i+1) = cos(p / 10000^(2i/d)), in float64."""
    p = torch.arange(positions, dtype=torch.float64)[:, None]
    i = torch.arange(width, dtype=torch.float64)[None, :]
    angle = p / torch.pow(10000.0, (i - i % 2) / width)
    return torch.where(i % 2 == 0, torch.sin(angle), torch.cos(angle)).float()


class PostNormLM(nn.Module):
    """The original Transformer's block as PyTorch ships it, made causal, under a language-model head."""

    def __init__(self, vocab, hidden, heads, ff, layers, positions):
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        layer = nn.TransformerEncoderLayer(
            hidden,
            heads,
            ff,
            dropout=0.0,
            activation="relu",
            layer_norm_eps=1e-5,
            batch_first=True,
            norm_first=False,
        )
        self.layers = nn.ModuleList([copy.deepcopy(layer) for _ in range(layers)])
        self.lm_head = nn.Linear(hidden, vocab, bias=False)
        self.register_buffer("pe", sinusoids(positions, hidden), persistent=False)

    def forward(self, ids):
        seq = ids.shape[1]
        x = self.embed(ids) + self.pe[:seq]
        mask = nn.Transformer.generate_square_subsequent_mask(seq)
        for layer in self.layers:
            x = layer(x, src_mask=mask, is_causal=True)
        return self.lm_head(x)


def build_post_norm(out, seed):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    sizes = dict(vocab=VOCAB, hidden=64, heads=4, ff=128, layers=2, positions=64)
    model = PostNormLM(**sizes).eval()
    with torch.no_grad():
        model.embed.weight.mul_(0.5)
        model.lm_head.weight.normal_(0.0, 0.3, generator=gen)
    perturb_norms_and_biases(model, gen)
    cases, greedy_run, worst = record(model, gen, [12], 8, 20)
    path = out / "post_norm"
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path / "model.safetensors")
    config = {
        "vocab_size": sizes["vocab"],
        "hidden_size": sizes["hidden"],
        "intermediate_size": sizes["ff"],
        "num_hidden_layers": sizes["layers"],
        "num_attention_heads": sizes["heads"],
        "max_position_embeddings": sizes["positions"],
        "rms_norm_eps": 1e-5,
        "hidden_act": "relu",
    }
    (path / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    write(path, {"fixture": "post_norm", "cases": cases, "greedy": greedy_run}, seed, worst)
    return worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    torch.set_num_threads(2)
    for name, build in [("gpt2", build_gpt2), ("post_norm", build_post_norm)]:
        for attempt in range(20):
            seed = 50_000 + 100 * len(name) + attempt
            worst = build(args.out, seed)
            if worst > 2e-3:
                break
        else:
            raise SystemExit(f"{name}: no seed gave a clear argmax margin")
        size = sum(f.stat().st_size for f in (args.out / name).iterdir())
        print(f"{name}: seed {seed}, min top-2 margin {worst:.4f}, {size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
