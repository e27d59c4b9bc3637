"""transformers' greedy continuation with `repetition_penalty` on the gqa fixture, for
tests/generation.rs: tests/fixtures/gqa/repetition_penalty.json (penalty, prompt, new ids).

Usage: make_repetition_fixture.py   (venv: tools/reference/requirements.txt)
"""

import json
from pathlib import Path

import torch
from transformers import Phi3ForCausalLM

path = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "gqa"
model = Phi3ForCausalLM.from_pretrained(path, attn_implementation="eager").eval()
prompt = json.loads((path / "expected.json").read_text())["greedy"]["input_ids"]
out = {}
for penalty in [1.3, 0.8]:
    ids = torch.tensor([prompt])
    with torch.no_grad():
        seq = model.generate(
            ids, attention_mask=torch.ones_like(ids), max_new_tokens=20, min_new_tokens=20,
            do_sample=False, repetition_penalty=penalty, use_cache=True, eos_token_id=None,
            pad_token_id=0,
        )
    out[str(penalty)] = seq[0, len(prompt):].tolist()
(path / "repetition_penalty.json").write_text(json.dumps({"input_ids": prompt, "new_ids": out}))
print(out)
