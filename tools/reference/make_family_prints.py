"""Writes, for each published Phi-3-family `config.json` in ../shared/reference, a copy of the config
and transformers' own `print(model)` and `num_parameters()` for the full-size model, built on the
meta device from the config alone (nothing allocated): tests/fixtures/configs/{name}.config.json,
{name}.print.txt and {name}.params.

Usage: make_family_prints.py   (venv: tools/reference/requirements.txt)
"""

import json
import shutil
from pathlib import Path

import torch
import transformers
from transformers import AutoModelForCausalLM

NAMES = [
    "phi-3-mini-4k-instruct",
    "phi-3-mini-128k-instruct",
    "phi-3-medium-4k-instruct",
    "phi-3-medium-128k-instruct",
    "phi-3.5-mini-instruct",
    "phi-4-mini-instruct",
]

root = Path(__file__).resolve().parents[2]
reference = root.parent / "shared" / "reference"
out = root / "tests" / "fixtures" / "configs"
out.mkdir(parents=True, exist_ok=True)
for name in NAMES:
    config_path = out / f"{name}.config.json"
    shutil.copyfile(reference / f"{name}.config.json", config_path)
    values = json.loads(config_path.read_text())
    scaling = values.get("rope_scaling") or {}
    if scaling.get("type") == "su":
        # transformers 5.24 maps `su` to `longrope` but then misses the top-level
        # `original_max_position_embeddings` and refuses the config; the spelling changes
        # nothing in the tree or the count, so transformers gets `longrope` here.
        scaling["type"] = "longrope"
    config = transformers.Phi3Config(**values)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    (out / f"{name}.print.txt").write_text(str(model) + "\n")
    (out / f"{name}.params").write_text(f"{model.num_parameters()}\n")
    print(f"{name}: {model.num_parameters():,} parameters (transformers {transformers.__version__})")
