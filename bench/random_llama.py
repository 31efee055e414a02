#!/usr/bin/env python3
"""A random-weight LLaMA-shaped model on disk, and a PATCH-like hybrid mask file for it: what the GPU serving load test
(bench/serve_load.py, docs/serving.md) serves, since real 7B weights cannot be carried to a lent GPU machine.

  python3 bench/random_llama.py OUT_DIR --shape llama-2-7b [--sparsity 35] [--tile 128] [--device cuda]

writes OUT_DIR/model (config.json + model-0000N-of-0000M.safetensors, bf16, weights N(0, 0.02), norms 1) and, at
--sparsity σ > 0, OUT_DIR/masks.safetensors (docs/masks.md, `bits` encoding): per projection a random (1 − 2σ)
share of its 128×128 tiles stays dense, the others keep the 2 largest-magnitude weights of every group of 4 — the
global sparsity is σ. Export it with `patchlm export OUT_DIR/model OUT_DIR/hybrid --masks OUT_DIR/masks.safetensors
--format hybrid`.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file

SHAPES = {  # hidden, intermediate, layers, heads, kv heads, vocab, rope theta
    "llama-2-7b": (4096, 11008, 32, 32, 32, 32000, 10000.0),
    "llama-3.1-8b": (4096, 14336, 32, 32, 8, 128256, 500000.0),
    "llama-3.2-1b": (2048, 8192, 16, 32, 8, 128256, 500000.0),
    "tiny": (256, 512, 2, 4, 2, 32000, 10000.0),  # a smoke test of the pipeline
}
PROJECTIONS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj",
               "mlp.up_proj", "mlp.down_proj"]


def config_of(shape):
    h, i, n, heads, kv, vocab, theta = SHAPES[shape]
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": h, "intermediate_size": i,
            "num_hidden_layers": n, "num_attention_heads": heads, "num_key_value_heads": kv, "vocab_size": vocab,
            "rope_theta": theta, "rms_norm_eps": 1e-5, "max_position_embeddings": 4096, "hidden_act": "silu",
            "tie_word_embeddings": False, "torch_dtype": "bfloat16", "bos_token_id": 1, "eos_token_id": 2}


def projection_shapes(cfg):
    h, i = cfg["hidden_size"], cfg["intermediate_size"]
    d = h // cfg["num_attention_heads"]
    kv = cfg["num_key_value_heads"] * d
    return {"self_attn.q_proj": (h, h), "self_attn.k_proj": (kv, h), "self_attn.v_proj": (kv, h),
            "self_attn.o_proj": (h, h), "mlp.gate_proj": (i, h), "mlp.up_proj": (i, h), "mlp.down_proj": (h, i)}


def patch_like_keep(w, dense_share, tile, gen):
    """keep [rows, cols] bool: random tiles dense, elsewhere 2:4 by magnitude."""
    rows, cols = w.shape
    dense_tiles = torch.rand(rows // tile, cols // tile, generator=gen, device=w.device) < dense_share
    groups = w.abs().reshape(rows, cols // 4, 4)
    top2 = groups.topk(2, dim=2).indices
    keep24 = torch.zeros_like(groups, dtype=torch.bool).scatter_(2, top2, True).reshape(rows, cols)
    dense = dense_tiles.repeat_interleave(tile, 0).repeat_interleave(tile, 1)
    return keep24 | dense


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--shape", default="llama-2-7b", choices=sorted(SHAPES))
    ap.add_argument("--sparsity", type=float, default=35, help="percent, 0..50 (0: no mask file)")
    ap.add_argument("--tile", type=int, default=128)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if not 0 <= a.sparsity <= 50:
        sys.exit(f"random_llama: --sparsity must be in 0..50, got {a.sparsity}")
    cfg = config_of(a.shape)
    model_dir = os.path.join(a.out, "model")
    os.makedirs(model_dir, exist_ok=False)
    json.dump(cfg, open(os.path.join(model_dir, "config.json"), "w"), indent=1)
    gen = torch.Generator(device=a.device).manual_seed(a.seed)
    rnd = lambda *s: (torch.randn(*s, generator=gen, device=a.device, dtype=torch.float32) * 0.02).to(torch.bfloat16)
    h, n = cfg["hidden_size"], cfg["num_hidden_layers"]
    shapes = projection_shapes(cfg)
    shards = [{"model.embed_tokens.weight": rnd(cfg["vocab_size"], h), "lm_head.weight": rnd(cfg["vocab_size"], h),
               "model.norm.weight": torch.ones(h, dtype=torch.bfloat16)}]
    masks, meta, kept, total = {}, {"format": "patchlm-mask", "version": "1", "method": "random-patch-like",
                                    "pattern": f"hybrid {a.tile}x{a.tile}", "source_model": a.shape}, 0, 0
    for layer in range(n):
        shard = {}
        for norm in ("input_layernorm", "post_attention_layernorm"):
            shard[f"model.layers.{layer}.{norm}.weight"] = torch.ones(h, dtype=torch.bfloat16)
        for p in PROJECTIONS:
            name = f"model.layers.{layer}.{p}.weight"
            w = rnd(*shapes[p])
            shard[name] = w.cpu()
            if a.sparsity > 0:
                keep = patch_like_keep(w, 1 - 2 * a.sparsity / 100, a.tile, gen).cpu().numpy()
                kept, total = kept + int(keep.sum()), total + keep.size
                masks[name] = torch.from_numpy(np.packbits(keep, axis=1, bitorder="little"))
                meta[f"encoding.{name}"] = "bits"
                meta[f"shape.{name}"] = f"{keep.shape[0]},{keep.shape[1]}"
        shards.append(shard)
    for k, shard in enumerate(shards):  # one file per block: well under the 5 GB a shard may hold
        path = os.path.join(model_dir, f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors")
        save_file({name: t.cpu().contiguous() for name, t in shard.items()}, path, metadata={"format": "pt"})
    index = {"metadata": {}, "weight_map": {name: f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
                                            for k, shard in enumerate(shards) for name in shard}}
    json.dump(index, open(os.path.join(model_dir, "model.safetensors.index.json"), "w"))
    if a.sparsity > 0:
        meta["sparsity"] = repr(1 - kept / total)
        save_file(masks, os.path.join(a.out, "masks.safetensors"), metadata=meta)
    print(f"random_llama: {a.shape} in {model_dir}" + (f", masks at sparsity {1 - kept / total:.4f}" if total else ""))


if __name__ == "__main__":
    main()
