"""Tokenizer encode throughput: patchlm vs the Rust `tokenizers` library, one thread each, same lines.
   python bench/tokenizer.py TOKENIZER_DIR [TEXT_FILE]   (default text: all python3.11-doc sources joined)"""
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
from tokenizers import Tokenizer  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
tok_dir = pathlib.Path(sys.argv[1])
if len(sys.argv) > 2:
    text_file = pathlib.Path(sys.argv[2])
else:
    text_file = pathlib.Path(tempfile.mkdtemp()) / "python-docs.txt"
    docs = sorted(pathlib.Path("/usr/share/doc/python3.11/html/_sources").rglob("*.rst.txt"))
    text_file.write_text("".join(p.read_text(encoding="utf-8") for p in docs), encoding="utf-8")

out = subprocess.run([str(ROOT / "build" / "bench" / "bench_tokenizer"), str(tok_dir), str(text_file), "3"],
                     capture_output=True, text=True, check=True).stdout.strip()
ours = float(re.search(r"first pass ([\d.]+) MB/s", out).group(1))  # cold cache: the conservative number

t = time.perf_counter()
ref = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
load = time.perf_counter() - t
lines = text_file.read_text(encoding="utf-8").split("\n")
nbytes = sum(len(line.encode()) for line in lines)
best = 1e30
for _ in range(3):
    t = time.perf_counter()
    for line in lines:
        ref.encode(line, add_special_tokens=False)
    best = min(best, time.perf_counter() - t)
theirs = nbytes / 1e6 / best
# encode_batch hands all lines to Rust at once (no Python call per line); RAYON_NUM_THREADS=1 keeps it on one thread.
best_batch = 1e30
for _ in range(3):
    t = time.perf_counter()
    ref.encode_batch(lines, add_special_tokens=False)
    best_batch = min(best_batch, time.perf_counter() - t)
theirs_batch = nbytes / 1e6 / best_batch
print(f"patchlm:    {out}")
print(f"tokenizers: load {load:.3f} s; encode {nbytes / 1e6:.2f} MB = {theirs:.2f} MB/s per-line calls, "
      f"{theirs_batch:.2f} MB/s encode_batch (one thread, best of 3)")
print(f"ratio patchlm / tokenizers: {ours / theirs:.2f} (per-line), {ours / theirs_batch:.2f} (encode_batch)")
