"""examples/serve.rs against OpenAI's own Python client (`openai`), as an application uses it.

    python3 tools/serve/test_openai.py http://127.0.0.1:PORT/v1

Runs against SmolLM2-135M-Instruct (what tools/serve/test.sh starts): a chat completion, a
text completion, the same chat streamed (equal text), two requests at once (each the answer it
gets alone), a stop string, and bad requests getting 4xx with a JSON error.
"""

import json
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import openai
from openai import OpenAI

base = sys.argv[1]
client = OpenAI(base_url=base, api_key="unused", max_retries=0, timeout=600)

models = client.models.list().data
assert len(models) == 1, models
name = models[0].id
print(f"/v1/models: {name}")

question = [{"role": "user", "content": "What is the capital of France?"}]


def chat(messages, **kw):
    return client.chat.completions.create(model=name, messages=messages, temperature=0, **kw)


# A chat completion through the checkpoint's chat template, greedy.
answer = chat(question, max_tokens=12)
text = answer.choices[0].message.content
print(f"chat: {text!r} ({answer.choices[0].finish_reason}, {answer.usage})")
assert "Paris" in text, text
assert answer.choices[0].message.role == "assistant"
assert answer.usage.completion_tokens == 12 or answer.choices[0].finish_reason == "stop"
assert answer.usage.prompt_tokens > 8, answer.usage  # the template's tokens around the question

# A text completion: greedy " Paris" after the walk-through's prompt.
done = client.completions.create(model=name, prompt="The capital of France is", max_tokens=4, temperature=0)
print(f"completion: {done.choices[0].text!r} ({done.choices[0].finish_reason})")
assert done.choices[0].text.startswith(" Paris"), done.choices[0].text
assert done.choices[0].finish_reason == "length" and done.usage.completion_tokens == 4

# Streamed: the same text in pieces, a role first, a finish reason last.
pieces, finish, role = [], None, None
for chunk in chat(question, max_tokens=12, stream=True):
    delta = chunk.choices[0].delta
    role = role or delta.role
    pieces.append(delta.content or "")
    finish = chunk.choices[0].finish_reason or finish
print(f"stream: {len([p for p in pieces if p])} pieces, {''.join(pieces)!r} ({finish})")
assert "".join(pieces) == text, (pieces, text)
assert role == "assistant" and finish == answer.choices[0].finish_reason
assert len([p for p in pieces if p]) > 1

# Two requests at once on the one shared model: each gets what it gets alone.
other = [{"role": "user", "content": "Name a colour."}]
alone = chat(other, max_tokens=10).choices[0].message.content
with ThreadPoolExecutor(2) as pool:
    both = list(pool.map(lambda m: chat(m, max_tokens=10).choices[0].message.content, [question, other]))
print(f"concurrent: {both!r}")
assert both[1] == alone, (both, alone)
assert both[0] == chat(question, max_tokens=10).choices[0].message.content

# A stop string ends the text before it (OpenAI's answers never contain it), streamed or not.
stopped = client.completions.create(
    model=name, prompt="The capital of France is", max_tokens=8, temperature=0, stop=["aris"]
)
print(f"stop: {stopped.choices[0].text!r} ({stopped.choices[0].finish_reason})")
assert stopped.choices[0].text == " P" and stopped.choices[0].finish_reason == "stop"
streamed = client.completions.create(
    model=name, prompt="The capital of France is", max_tokens=8, temperature=0, stop=["aris"], stream=True
)
assert "".join(c.choices[0].text for c in streamed) == " P"

# Bad requests: 4xx with OpenAI's JSON error shape, and the server keeps serving.
for call, status, param in [
    (lambda: chat(question, max_tokens=4, top_p=1.5), 400, "top_p"),
    (lambda: client.chat.completions.create(model=name, messages=question, temperature=7), 400, "temperature"),
    (lambda: client.chat.completions.create(model=name, messages=[]), 400, "messages"),
    (lambda: client.chat.completions.create(model="no-such-model", messages=question), 404, "model"),
    (lambda: client.completions.create(model=name, prompt="x " * 10000, max_tokens=4), 400, None),
]:
    try:
        call()
    except openai.APIStatusError as e:
        body = e.response.json()
        print(f"bad request: {e.status_code} {body['error']['message'][:90]!r}")
        assert e.status_code == status, (e.status_code, body)
        assert body["error"]["type"] == "invalid_request_error" and body["error"]["param"] == param, body
    else:
        raise AssertionError(f"accepted a bad request ({param})")
request = urllib.request.Request(
    base + "/chat/completions", data=b"{not json", headers={"Content-Type": "application/json"}
)
try:
    urllib.request.urlopen(request)
    raise AssertionError("accepted malformed JSON")
except urllib.error.HTTPError as e:
    body = json.loads(e.read())
    print(f"malformed JSON: {e.code} {body['error']['message'][:60]!r}")
    assert e.code == 400 and "error" in body
assert "Paris" in chat(question, max_tokens=12).choices[0].message.content
print("serve: the openai client's completion, stream, concurrent requests and 4xx errors pass")
