"""Writes tests/fixtures/phi3_chat/: Phi-3-mini-4k-instruct's published tokenizer_config.json and
generation_config.json (copied from ../shared/reference), and expected.json — transformers' chat
prompt and ids for one user message, with the Llama-2 base vocabulary (the test tokenizer's
tokenizer.json without Phi-3's added tokens) under the published tokenizer_config.json.

Usage: make_chat_fixture.py   (venv: tools/reference/requirements.txt)
"""

import json
import shutil
import tempfile
from pathlib import Path

import transformers
from transformers import AutoTokenizer

root = Path(__file__).resolve().parents[2]
reference = root.parent / "shared" / "reference"
out = root / "tests" / "fixtures" / "phi3_chat"
out.mkdir(parents=True, exist_ok=True)
for name in ["tokenizer_config.json", "generation_config.json"]:
    shutil.copyfile(reference / f"phi-3-mini-4k-instruct.{name}", out / name)

with tempfile.TemporaryDirectory() as tmp:
    base = json.loads((root / "tests/fixtures/tokenizer/tokenizer.json").read_text())
    base["added_tokens"] = [t for t in base["added_tokens"] if t["id"] < 32000]
    (Path(tmp) / "tokenizer.json").write_text(json.dumps(base))
    shutil.copyfile(out / "tokenizer_config.json", Path(tmp) / "tokenizer_config.json")
    tok = AutoTokenizer.from_pretrained(tmp)
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    prompt = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = tok.encode(prompt, add_special_tokens=False)
expected = {
    "messages": messages,
    "prompt": prompt,
    "ids": ids,
    "transformers": transformers.__version__,
}
(out / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
print(expected)
