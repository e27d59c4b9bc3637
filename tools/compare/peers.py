"""One benchmark run of a peer on SmolLM2, printed as one JSON line, in llama-bench's terms:
ppN = prompt tokens/s (one forward over N tokens), tgN = tokens/s generating N tokens greedily
with the KV cache after a 1-token prompt. Medians of --repeats runs after a warm-up.

  peers.py transformers --gguf F --dtype f32|bf16
  peers.py llama.cpp    --gguf F          (the file's own weight type: make F32/F16 files first)
"""

import argparse
import json
import statistics
import time

import numpy as np


def prompt_ids(n, vocab, seed):
    return [int((i * 2654435761 + seed * 40503 + 17) % vocab) for i in range(n)]


def bench_transformers(args):
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.cache_utils import DynamicCache

    torch.set_num_threads(args.threads)
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[args.dtype]
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(args.gguf_dir, gguf_file=args.gguf_name, dtype=dtype).eval()
    load = time.perf_counter() - t0
    vocab = model.config.vocab_size

    def pp(n):
        ids = torch.tensor([prompt_ids(n, vocab, n)])
        t = time.perf_counter()
        with torch.no_grad():
            model(input_ids=ids, use_cache=True, logits_to_keep=1)
        return time.perf_counter() - t

    def tg(n):
        cache = DynamicCache(config=model.config)
        nxt = torch.tensor([[1]])
        total = 0.0
        with torch.no_grad():
            for step in range(n + 1):
                t = time.perf_counter()
                out = model(input_ids=nxt, past_key_values=cache, use_cache=True)
                logits = out.logits[0, -1]
                if step > 0:
                    total += time.perf_counter() - t
                nxt = logits.argmax().reshape(1, 1)
        return total

    return load, pp, tg


def bench_llama_cpp(args):
    from llama_cpp import Llama

    t0 = time.perf_counter()
    llm = Llama(model_path=args.gguf, n_threads=args.threads, n_threads_batch=args.threads, n_ctx=1024,
                n_batch=512, n_ubatch=512, verbose=False, logits_all=False)
    load = time.perf_counter() - t0
    vocab = llm.n_vocab()

    def pp(n):
        llm.reset()
        ids = prompt_ids(n, vocab, n)
        t = time.perf_counter()
        llm.eval(ids)
        return time.perf_counter() - t

    def tg(n):
        llm.reset()
        nxt = 1
        total = 0.0
        for step in range(n + 1):
            t = time.perf_counter()
            llm.eval([nxt])
            logits = llm.scores[llm.n_tokens - 1]
            if step > 0:
                total += time.perf_counter() - t
            nxt = int(np.argmax(logits))
        return total

    return load, pp, tg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("peer", choices=["transformers", "llama.cpp"])
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--dtype", default="f32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-p", default="128,512")
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import os
    args.gguf_dir, args.gguf_name = os.path.split(os.path.abspath(args.gguf))
    load, pp, tg = (bench_transformers if args.peer == "transformers" else bench_llama_cpp)(args)
    results = {}
    for n in [int(x) for x in args.p.split(",")]:
        pp(n)
        results[f"pp{n}"] = n / statistics.median(pp(n) for _ in range(args.repeats))
    tg(8)
    results[f"tg{args.n}"] = args.n / statistics.median(tg(args.n) for _ in range(args.repeats))
    print(json.dumps({"peer": args.peer, "dtype": args.dtype, "load_s": load, "tokens_per_s": results}))


if __name__ == "__main__":
    main()
