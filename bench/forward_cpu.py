"""CPU forward tokens/s: patchlm vs transformers on the same model, input and thread count.
   python bench/forward_cpu.py MODEL.gguf|HF_DIR [--batch 1] [--tokens 256] [--repeats 5] [--threads 2]"""
import argparse
import pathlib
import re
import subprocess
import time

import torch
from transformers import AutoModelForCausalLM

ROOT = pathlib.Path(__file__).resolve().parents[1]

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("--batch", type=int, default=1)
ap.add_argument("--tokens", type=int, default=256)
ap.add_argument("--repeats", type=int, default=5)
ap.add_argument("--threads", type=int, default=torch.get_num_threads())
ap.add_argument("--bin", default=str(ROOT / "build" / "bench" / "bench_forward_cpu"))
a = ap.parse_args()

out = subprocess.run([a.bin, a.model, str(a.batch), str(a.tokens), str(a.repeats), str(a.threads)],
                     capture_output=True, text=True, check=True).stdout
ours = float(re.search(r"([\d.]+) tok/s", out).group(1))

torch.set_num_threads(a.threads)
path = pathlib.Path(a.model)
kwargs = dict(dtype=torch.float32, attn_implementation="sdpa")
hf = (AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, **kwargs) if path.suffix == ".gguf"
      else AutoModelForCausalLM.from_pretrained(str(path), **kwargs)).eval()
ids = (torch.arange(a.batch * a.tokens) * 7919 % hf.config.vocab_size).view(a.batch, a.tokens)
with torch.no_grad():
    hf(ids)
    t = time.perf_counter()
    for _ in range(a.repeats):
        hf(ids).logits.sum().item()
    theirs = a.batch * a.tokens * a.repeats / (time.perf_counter() - t)
print(out.strip())
print(f"transformers forward: {theirs:.1f} tok/s ({a.threads} threads)")
print(f"ratio patchlm / transformers: {ours / theirs:.2f}")
