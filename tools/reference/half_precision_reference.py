"""How far transformers itself is from its f32 logits in bf16 and f16, on the oracle fixtures.

The reference for phi3's half-precision bounds (tests/backend_checks, docs/fidelity.md): phi3 in
half precision should be about as far from the f32 oracle as transformers in half precision is.
Run with the oracle's venv: ~/.cache/phi3/venv-ref/bin/python tools/reference/half_precision_reference.py
"""
import json
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures"

for name in ["gqa", "longrope", "partial_rotary_tied", "sliding_window", "llama"]:
    expected = json.loads((FIXTURES / name / "expected.json").read_text())
    for dtype in [torch.bfloat16, torch.float16]:
        model = AutoModelForCausalLM.from_pretrained(
            FIXTURES / name, torch_dtype=dtype, attn_implementation="eager"
        )
        worst = 0.0
        for case in expected["cases"]:
            with torch.no_grad():
                logits = model(torch.tensor([case["input_ids"]])).logits.float()[0]
            worst = max(worst, (logits - torch.tensor(case["logits"])).abs().max().item())
        print(f"{name:20} {str(dtype):15} max |logits - f32 logits| {worst:.3e}")
