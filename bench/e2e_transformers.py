"""The baseline of `patchlm bench e2e`: transformers' generate on a random-weight dense model of the same shape
(bf16, sdpa attention, static KV cache), prefill and decode tokens/s per batch size, written as JSON
{"<batch>": {"prefill_tokens_per_s": ..., "decode_tokens_per_s": ...}}. Only a yardstick to measure against."""
import argparse
import json
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM, StoppingCriteria, StoppingCriteriaList

SHAPES = {
    "llama-2-7b": dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                       num_attention_heads=32, num_key_value_heads=32, rope_theta=10000.0),
    "llama-3.1-8b": dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                         num_attention_heads=32, num_key_value_heads=8, rope_theta=500000.0),
}


def timed(fn):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shape", choices=sorted(SHAPES), required=True)
    p.add_argument("--batches", default="1,16")
    p.add_argument("--prompt", type=int, default=512)
    p.add_argument("--new-tokens", type=int, default=256)
    p.add_argument("--json", required=True)
    a = p.parse_args()
    cfg = LlamaConfig(**SHAPES[a.shape], max_position_embeddings=a.prompt + a.new_tokens + 8, pad_token_id=0)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = LlamaForCausalLM._from_config(cfg, torch_dtype=torch.bfloat16, attn_implementation="sdpa").eval()
    out = {}
    for batch in [int(b) for b in a.batches.split(",")]:
        ids = torch.randint(3, cfg.vocab_size, (batch, a.prompt), device="cuda")
        # One static cache size for every call (max_new_tokens fixed), so the compiled forward is reused; the
        # prefill is timed as a run stopped after its first token.
        kw = dict(do_sample=False, cache_implementation="static", pad_token_id=0, max_new_tokens=a.new_tokens,
                  min_new_tokens=a.new_tokens)

        def run(stop_after):
            class Stop(StoppingCriteria):
                def __call__(self, input_ids, scores, **_):
                    return input_ids.shape[1] - a.prompt >= stop_after

            with torch.inference_mode():
                model.generate(ids, attention_mask=torch.ones_like(ids), stopping_criteria=StoppingCriteriaList([Stop()]),
                               **kw)

        run(a.new_tokens)  # warm-up: a static cache compiles the forward
        run(a.new_tokens)
        prefill = timed(lambda: run(1))
        total = timed(lambda: run(a.new_tokens))
        out[str(batch)] = {"prefill_tokens_per_s": batch * a.prompt / prefill,
                           "decode_tokens_per_s": batch * (a.new_tokens - 1) / (total - prefill)}
        print(f"transformers {a.shape} batch {batch}: {out[str(batch)]}", flush=True)
    with open(a.json, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
