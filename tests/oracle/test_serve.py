"""`patchlm serve` through the official `openai` client and raw HTTP on loopback: completions and chat (plain and
streamed) equal `patchlm generate`, concurrent requests equal sequential ones, bad requests get the OpenAI error object
with a 4xx status, a client that leaves frees its slot, SIGTERM lets the requests in flight finish, and a bounded load
test (32 clients, 200 requests) ends with no error."""
import concurrent.futures
import http.client
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from openai import OpenAI

from conftest import ROOT, run

SMOLLM2 = "smollm2-135m-instruct-q4_1.gguf"
KEY = "sk-patchlm-test"


def start_server(patchlm_bin, model, *extra):
    p = subprocess.Popen([str(patchlm_bin), "serve", str(model), "--port", "0", "--model-name", "smol",
                          "--max-context", "512", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    assert "listening on http://" in line, (line, p.stderr.read() if p.poll() is not None else "")
    port = int(line.split("http://127.0.0.1:")[1].split()[0])
    return p, port


def stop_server(p):
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    return out


@pytest.fixture(scope="module")
def server(models_dir, patchlm_bin):
    p, port = start_server(patchlm_bin, models_dir / SMOLLM2, "--max-batch", "8", "--api-key", KEY)
    yield port
    stop_server(p)


@pytest.fixture(scope="module")
def client(server):
    return OpenAI(base_url=f"http://127.0.0.1:{server}/v1", api_key=KEY, max_retries=0, timeout=120)


def raw(port, method, path, body=None, key=KEY):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    c.request(method, path, body=body if isinstance(body, (str, bytes)) or body is None else json.dumps(body), headers=headers)
    r = c.getresponse()
    data = r.read().decode()
    c.close()
    return r.status, data


def generate_text(patchlm_bin, models_dir, prompt, n):
    _, out, _ = run([patchlm_bin, "generate", models_dir / SMOLLM2, "--prompt", prompt, "--max-new-tokens", n])
    assert out.startswith(prompt) and out.endswith("\n")
    return out[len(prompt):-1]  # generate ends its output with one newline of its own


def test_health_and_models(server, client):
    status, body = raw(server, "GET", "/health", key=None)
    assert status == 200 and json.loads(body)["status"] == "ok"
    assert [m.id for m in client.models.list().data] == ["smol"]


def test_greedy_completion_equals_generate(client, models_dir, patchlm_bin):
    prompt = "The Python tutorial introduces"
    r = client.completions.create(model="smol", prompt=prompt, max_tokens=16, temperature=0)
    assert r.choices[0].text == generate_text(patchlm_bin, models_dir, prompt, 16)
    assert r.usage.completion_tokens == 16 and r.choices[0].finish_reason == "length"
    assert r.usage.total_tokens == r.usage.prompt_tokens + 16


def test_streamed_completion_and_chat_equal_the_plain_ones(client):
    prompt = "A list is a"
    plain = client.completions.create(model="smol", prompt=prompt, max_tokens=12, temperature=0).choices[0].text
    parts = [c.choices[0].text for c in client.completions.create(model="smol", prompt=prompt, max_tokens=12,
                                                                   temperature=0, stream=True) if c.choices]
    assert "".join(parts) == plain
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    reply = client.chat.completions.create(model="smol", messages=messages, max_tokens=24, temperature=0)
    assert "Paris" in reply.choices[0].message.content and reply.choices[0].message.role == "assistant"
    chunks = list(client.chat.completions.create(model="smol", messages=messages, max_tokens=24, temperature=0,
                                                 stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == reply.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == reply.usage.completion_tokens


def test_stop_strings_and_sampling_seed(client):
    r = client.completions.create(model="smol", prompt="1, 2, 3, 4,", max_tokens=40, temperature=0, stop=[" 7", "\n"])
    assert " 7" not in r.choices[0].text and "\n" not in r.choices[0].text and r.choices[0].finish_reason == "stop"
    a = client.completions.create(model="smol", prompt="Once upon a time", max_tokens=12, temperature=0.9, seed=7)
    b = client.completions.create(model="smol", prompt="Once upon a time", max_tokens=12, temperature=0.9, seed=7)
    assert a.choices[0].text == b.choices[0].text


def test_concurrent_requests_equal_sequential_ones(client):
    prompts = [f"Item {i}: the best way to learn Python is" for i in range(8)]
    ask = lambda p: client.completions.create(model="smol", prompt=p, max_tokens=10, temperature=0).choices[0].text
    sequential = [ask(p) for p in prompts]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert list(pool.map(ask, prompts)) == sequential


@pytest.mark.parametrize("path,body,status,needle", [
    ("/v1/completions", "{not json", 400, "not valid JSON"),
    ("/v1/completions", {"model": "smol", "prompt": "x", "max_tokens": "ten"}, 400, "max_tokens"),
    ("/v1/completions", {"model": "smol", "prompt": "x", "temperature": 9}, 400, "temperature"),
    ("/v1/completions", {"model": "smol", "prompt": "x", "n": 2}, 400, "n = 1"),
    ("/v1/completions", {"model": "smol"}, 400, "prompt"),
    ("/v1/completions", {"model": "smol", "prompt": "word " * 600}, 400, "context"),
    ("/v1/completions", {"model": "gpt-4", "prompt": "x"}, 404, "does not exist"),
    ("/v1/chat/completions", {"model": "smol", "messages": [{"role": "robot", "content": "x"}]}, 400, "role"),
    ("/v1/chat/completions", {"model": "smol", "messages": []}, 400, "messages"),
    ("/v1/completions", {"model": "smol", "prompt": [999999]}, 400, "vocabulary"),
])
def test_bad_requests_get_the_openai_error_object(server, path, body, status, needle):
    got, text = raw(server, "POST", path, body)
    assert got == status, text
    error = json.loads(text)["error"]
    assert needle in error["message"] and error["type"]


def test_api_key_is_required(server):
    for key in [None, "sk-wrong"]:
        status, text = raw(server, "GET", "/v1/models", key=key)
        assert status == 401 and json.loads(text)["error"]["code"] == "invalid_api_key"


def test_a_client_that_leaves_frees_its_slot(server):
    c = http.client.HTTPConnection("127.0.0.1", server, timeout=60)
    c.request("POST", "/v1/completions", json.dumps({"model": "smol", "prompt": "Tell me", "max_tokens": 400,
                                                     "stream": True}),
              {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"})
    r = c.getresponse()
    r.fp.readline()  # the first event
    c.close()
    deadline = time.time() + 30
    while time.time() < deadline:
        if json.loads(raw(server, "GET", "/health", key=None)[1])["in_flight"] == 0:
            return
        time.sleep(0.2)
    pytest.fail("the abandoned request kept its slot")


def test_sigterm_lets_requests_in_flight_finish(models_dir, patchlm_bin):
    p, port = start_server(patchlm_bin, models_dir / SMOLLM2)
    client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0, timeout=120)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(client.completions.create, model="smol", prompt="Hello", max_tokens=48, temperature=0)
        time.sleep(1.0)
        p.send_signal(signal.SIGTERM)
        assert pending.result().usage.completion_tokens == 48
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert "stopped after" in out


def test_bounded_load_32_clients_200_requests(server, tmp_path):
    """No errors and every request answered; prints p50/p99 latency and tokens/s (docs/serving.md). The load client
    is bench/serve_load.py, the one the GPU load test uses."""
    out = tmp_path / "load.json"
    _, stdout, _ = run([sys.executable, ROOT / "bench" / "serve_load.py", "--base-url", f"http://127.0.0.1:{server}/v1",
                        "--api-key", KEY, "--model", "smol", "--clients", 32, "--requests", 200, "--max-tokens", 8,
                        "--json", out])
    row = json.loads(out.read_text())
    print(f"load: 200 requests from 32 clients in {row['wall_s']:.1f} s, {row['tokens_per_s']:.1f} tokens/s, latency "
          f"p50 {row['latency_p50_s']:.2f} s p99 {row['latency_p99_s']:.2f} s ({os.cpu_count()} cores)")
    assert row["answered"] == 200 and row["errors"] == 0 and row["generated_tokens"] == 200 * 8
