#!/usr/bin/env python3
"""Load test of an OpenAI-compatible server with the official `openai` client: N concurrent clients (one thread each)
send R greedy completions of T tokens; prints requests, generated tokens/s over the wall time, latency p50/p99 and
errors, and with --json writes them. The same client as tests/oracle/test_serve.py's bounded CPU load test.

  python3 bench/serve_load.py --base-url http://127.0.0.1:8080/v1 --model NAME [--clients 64 --requests 256
                              --max-tokens 128] [--json out.json]
"""
import argparse
import concurrent.futures
import json
import statistics
import sys
import time

import openai


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--api-key", default="none")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--requests", type=int, default=256)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--json")
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    client = openai.OpenAI(base_url=a.base_url, api_key=a.api_key, max_retries=0, timeout=600)

    def one(i):
        t0 = time.time()
        try:
            r = client.completions.create(model=a.model, prompt=f"Request {i}: the quick brown fox", temperature=0,
                                          max_tokens=a.max_tokens)
            return time.time() - t0, r.usage.completion_tokens, None
        except openai.OpenAIError as e:
            return time.time() - t0, 0, str(e)

    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(a.clients) as pool:
        results = list(pool.map(one, range(a.requests)))
    wall = time.time() - t0
    ok = [r for r in results if r[2] is None]
    lat = sorted(r[0] for r in ok)
    tokens = sum(r[1] for r in ok)
    row = {"label": a.label, "model": a.model, "clients": a.clients, "requests": a.requests,
           "max_tokens": a.max_tokens, "answered": len(ok), "errors": len(results) - len(ok), "wall_s": wall,
           "generated_tokens": tokens, "tokens_per_s": tokens / wall,
           "latency_p50_s": statistics.median(lat) if lat else None,
           "latency_p99_s": lat[int(0.99 * (len(lat) - 1))] if lat else None}
    print(json.dumps(row))
    if a.json:
        json.dump(row, open(a.json, "w"), indent=1)
    errors = [r[2] for r in results if r[2]]
    if errors:
        print("first error:", errors[0], file=sys.stderr)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
