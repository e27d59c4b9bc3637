"""Aggregate and per-request decode rate of a running OpenAI-compatible server with N requests
at once (docs/scaling.md, rule 3).

    cargo run --release --example serve -- --model SmolLM2-135M-Instruct.Q4_1.gguf --port 8124 &
    python3 tools/serve/concurrency.py http://127.0.0.1:8124/v1 SmolLM2-135M-Instruct.Q4_1

Each request: a greedy `/v1/completions` of 96 tokens; wall clock includes prefill and HTTP.
"""

import json
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

base, model = sys.argv[1], sys.argv[2]


def one(i):
    body = {"model": model, "prompt": f"Story {i}: Once upon a time, in a small village,",
            "max_tokens": 96, "temperature": 0}
    request = urllib.request.Request(base + "/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request).read())["usage"]["completion_tokens"]


one(0)  # warm-up
print("| concurrent requests | aggregate tokens/s | per request |\n|---|---|---|")
for n in (1, 2, 4):
    best = 0.0
    for _ in range(2):
        start = time.time()
        with ThreadPoolExecutor(n) as pool:
            tokens = sum(pool.map(one, range(n)))
        best = max(best, tokens / (time.time() - start))
    print(f"| {n} | {best:.1f} | {best / n:.1f} |")
