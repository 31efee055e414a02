"""The floor of one decode step of a dense LLaMA-shaped model on this GPU: the time of its GEMMs alone (fused q/k/v,
o, fused gate/up, down for every layer, and the LM head), cuBLAS bf16 through torch, replayed in a CUDA graph with
a distinct weight per layer (so weights stream from HBM). What the engine's step costs beyond it is everything else:
attention, norms, RoPE, activation, launches (docs/performance.md).
    python3 bench/decode_floor.py [--shape llama-2-7b] [--batch 1,16]"""
import argparse

import torch

SHAPES = {"llama-2-7b": (32000, 4096, 11008, 32, 32, 32), "llama-3.1-8b": (128256, 4096, 14336, 32, 32, 8)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shape", default="llama-2-7b", choices=sorted(SHAPES))
    p.add_argument("--batch", default="1,16")
    a = p.parse_args()
    vocab, hidden, inter, layers, heads, kv = SHAPES[a.shape]
    d = hidden // heads
    dev, bf = "cuda", torch.bfloat16
    weights = [[torch.randn(n, k, device=dev, dtype=bf) * 0.02 for n, k in
                [((heads + 2 * kv) * d, hidden), (hidden, heads * d), (2 * inter, hidden), (hidden, inter)]]
               for _ in range(layers)]
    head = torch.randn(vocab, hidden, device=dev, dtype=bf) * 0.02
    gigabytes = (sum(w.numel() for ws in weights for w in ws) + head.numel()) * 2 / 1e9
    for batch in [int(b) for b in a.batch.split(",")]:
        x, xi = torch.randn(batch, hidden, device=dev, dtype=bf), torch.randn(batch, inter, device=dev, dtype=bf)
        xa = torch.randn(batch, heads * d, device=dev, dtype=bf)

        def step():
            for qkv, o, gu, down in weights:
                torch.nn.functional.linear(x, qkv)
                torch.nn.functional.linear(xa, o)
                torch.nn.functional.linear(x, gu)
                torch.nn.functional.linear(xi, down)
            torch.nn.functional.linear(x, head)

        s = torch.cuda.Stream()
        with torch.cuda.stream(s):
            step()
            step()
        torch.cuda.synchronize()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            step()
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        g.replay()
        start.record()
        for _ in range(20):
            g.replay()
        stop.record()
        torch.cuda.synchronize()
        ms = start.elapsed_time(stop) / 20
        print(f"{a.shape} batch {batch}: GEMMs of one decode step {ms:.3f} ms = {gigabytes / ms:.2f} TB/s over "
              f"{gigabytes:.2f} GB of weights", flush=True)


if __name__ == "__main__":
    main()
