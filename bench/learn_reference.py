"""The baseline of `patchlm bench learn`: the reference approach to PATCH mask learning, written here only to measure
against — a frozen transformers LLaMA model of the same shape (random weights), every projection's mask rebuilt from
its logits in a forward pre-hook (the torch.nn.utils.prune pattern: weight = weight_orig ⊙ mask), logits in bf16 on
the GPU, per-layer activation checkpointing, bf16 autocast, AdamW; loss = CE + λs·|density − target| −
λw·Σ‖M⊙W‖/Σ‖W‖ as in PATCH.md. Writes {"<micro>": {"s_per_step", "tokens_per_s", "peak_gib"}} as JSON."""
import argparse
import json
import resource
import time

import torch
import torch.nn.functional as F
from transformers import LlamaConfig, LlamaForCausalLM

SHAPES = {  # the same shapes as learn/learn_benchmark.cpp
    "smollm2-135m": dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                         num_attention_heads=9, num_key_value_heads=3, rope_theta=100000.0, tile=64),
    "llama-3.2-1b": dict(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                         num_attention_heads=32, num_key_value_heads=8, head_dim=64, rope_theta=500000.0, tile=128),
    "llama-2-7b": dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                       num_attention_heads=32, num_key_value_heads=32, rope_theta=10000.0, tile=128),
    "llama-3.1-8b": dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                         num_attention_heads=32, num_key_value_heads=8, rope_theta=500000.0, tile=128),
}
C24 = torch.tensor([[1, 1, 0, 0], [1, 0, 1, 0], [1, 0, 0, 1], [0, 1, 1, 0], [0, 1, 0, 1], [0, 0, 1, 1]])
TAU, K24, KT, TARGET, LS, LW = 4.0, 100.0, 25.0, 0.35, 7.0, 10.0  # the first step's schedule values, PATCH.md


def gumbel(shape, like):
    u = torch.rand(shape, device=like.device, dtype=torch.float32).clamp(1e-20, 1 - 2 ** -24)
    return -torch.log(-torch.log(u))


def add_masks(model, mode, tile, logits_dtype):
    """Replaces every projection's weight by weight_orig ⊙ mask, rebuilt from the logits before each forward."""
    params, layers = [], []
    for name, lin in model.model.layers.named_modules():
        if not isinstance(lin, torch.nn.Linear):
            continue
        w = lin.weight.detach()
        del lin._parameters["weight"]
        lin.register_buffer("weight_orig", w)
        rows, cols = w.shape
        if mode != "tile":
            lin.l24 = torch.nn.Parameter(torch.randn(rows * cols // 4, 6, device=w.device, dtype=logits_dtype) * 0.014)
            params.append(lin.l24)
        else:  # magnitude 2:4 prior, fixed
            idx = w.abs().reshape(-1, 4).float().topk(2, 1).indices
            lin.register_buffer("fixed24", torch.zeros(rows * cols // 4, 4, device=w.device).scatter_(1, idx, 1.0)
                                .reshape(rows, cols))
        if mode != "maskllm":
            lin.lt = torch.nn.Parameter(torch.randn(rows // tile, cols // tile, device=w.device, dtype=logits_dtype) * 0.014)
            params.append(lin.lt)

        def pre_hook(mod, args, rows=rows, cols=cols):
            if mode == "tile":
                m24 = mod.fixed24
            else:
                probs = torch.softmax((mod.l24.float() * K24 + gumbel(mod.l24.shape, mod.l24)) / TAU, -1)
                m24 = (probs @ C24.to(probs)).reshape(rows, cols)
            if mode == "maskllm":
                m = m24
            else:
                two = torch.stack([torch.zeros_like(mod.lt.float()), mod.lt.float() * KT], -1)
                t = torch.softmax((two + gumbel(two.shape, two)) / TAU, -1)[..., 1]
                t = t.repeat_interleave(tile, 0).repeat_interleave(tile, 1)
                m = t + (1 - t) * m24
            mod.last_mask = m
            mod.weight = mod.weight_orig * m.to(mod.weight_orig.dtype)

        lin.register_forward_pre_hook(pre_hook)
        layers.append(lin)
    return params, layers


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shape", choices=sorted(SHAPES), required=True)
    p.add_argument("--mode", choices=["joint", "tile", "maskllm"], default="joint")
    p.add_argument("--device", default="cuda")
    p.add_argument("--seq", type=int, default=4096)
    p.add_argument("--micros", default="1")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--json", required=True)
    a = p.parse_args()
    shape = dict(SHAPES[a.shape])
    tile = shape.pop("tile")
    cuda = a.device.startswith("cuda")
    dtype = torch.bfloat16 if cuda else torch.float32
    cfg = LlamaConfig(**shape, max_position_embeddings=max(a.seq, 2048), tie_word_embeddings=True, use_cache=False)
    torch.manual_seed(0)
    out = {}
    for micro in [int(m) for m in a.micros.split(",")]:
        with torch.device(a.device):
            model = LlamaForCausalLM._from_config(cfg, torch_dtype=dtype, attn_implementation="sdpa")
        for prm in model.parameters():
            prm.requires_grad_(False)
        getattr(model, "activation_checkpointing_enable", model.gradient_checkpointing_enable)()
        model.train()
        params, layers = add_masks(model, a.mode, tile, dtype)
        opt = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.95), weight_decay=0.0)
        wnorm = sum(lin.weight_orig.float().norm() for lin in layers)
        numel = sum(lin.weight_orig.numel() for lin in layers)
        ids = torch.randint(0, cfg.vocab_size, (micro, a.seq), device=a.device)
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        times = []
        for step in range(a.steps + 1):  # the first step warms up
            if cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            with torch.autocast(a.device.split(":")[0], dtype=torch.bfloat16, enabled=cuda):
                logits = model(input_ids=ids).logits
                ce = F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)).float(), ids[:, 1:].reshape(-1))
                density = sum(lin.last_mask.float().sum() for lin in layers) / numel
                weight_term = sum((lin.last_mask * lin.weight_orig).float().norm() for lin in layers) / wnorm
                loss = ce + LS * (density - (1 - TARGET)).abs() - LW * weight_term
            loss.backward()
            opt.step()
            if cuda:
                torch.cuda.synchronize()
            if step > 0:
                times.append(time.perf_counter() - t0)
        s = sum(times) / len(times)
        peak = (torch.cuda.max_memory_allocated() if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
        out[str(micro)] = {"s_per_step": s, "tokens_per_s": micro * a.seq / s, "peak_gib": peak / 2 ** 30}
        del model, params, layers, opt
        if cuda:
            torch.cuda.empty_cache()
    with open(a.json, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
