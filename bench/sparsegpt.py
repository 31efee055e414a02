"""SparseGPT on one layer: patchlm (bench_sparsegpt) vs the paper-style Python reference of the tests, same device.
   python bench/sparsegpt.py [--rows 4096] [--cols 4096] [--device cpu] [--tokens 4096]"""
import argparse
import pathlib
import re
import subprocess
import sys
import time

import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "oracle"))
from test_prune import sparsegpt_reference  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--rows", type=int, default=4096)
ap.add_argument("--cols", type=int, default=4096)
ap.add_argument("--device", default="cpu")
ap.add_argument("--tokens", type=int, default=4096)
ap.add_argument("--bin", default=str(ROOT / "build" / "bench" / "bench_sparsegpt"))
a = ap.parse_args()

out = subprocess.run([a.bin, str(a.rows), str(a.cols), a.device, str(a.tokens)], capture_output=True, text=True,
                     check=True).stdout
print(out.strip())
ours = {m: float(s) for m, s in re.findall(r"sparsegpt (\S+) .*: ([\d.]+) s", out)}
torch.set_default_device(a.device)
W = torch.randn(a.rows, a.cols)
X = torch.randn(a.tokens, a.cols) * (torch.rand(a.cols) * 3 + 0.1)
H = 2 / a.tokens * (X.t() @ X)
for name, (n, m) in (("2:4", (2, 4)), ("unstructured", (0, 0))):
    t = time.perf_counter()
    w, _ = sparsegpt_reference(W, None, n, m, 0.5, H=H)
    w.sum().item()
    theirs = time.perf_counter() - t
    print(f"reference sparsegpt {name}: {theirs:.3f} s  -> patchlm is {theirs / ours[name]:.2f}x faster")
