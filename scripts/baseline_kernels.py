#!/usr/bin/env python3
"""Which kernels the baselines of `patchlm bench gemm` run: cuBLAS (bf16 dense, y = x W^T) and cuSPARSELt (W fully
2:4, its own algorithm search), per weight shape and token count — kernel name (it encodes cuBLAS's tile shape), grid,
block, registers, shared memory and time, from PyTorch's profiler (Kineto). A tool for the GPU machine, not a test.

With --nvtx each case's timed calls are inside an NVTX range named "<lib> <OUT>x<IN> t<tokens>", so that Nsight
Compute can profile exactly those, e.g.
  ncu --clock-control none --nvtx --nvtx-include 'cslt 11008x4096 t2048/' --set full -o cslt python3 baseline_kernels.py ...

  python3 scripts/baseline_kernels.py --shapes 4096x4096,11008x4096 --tokens 192,2048 [--json out.json] [--nvtx]
"""
import argparse
import json
import os
import sys
import tempfile

import torch


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shapes", default="4096x4096,11008x4096", help="weights OUTxIN, comma separated")
    p.add_argument("--tokens", default="192,2048", help="token counts, comma separated")
    p.add_argument("--repeats", type=int, default=20, help="timed calls per case")
    p.add_argument("--no-cslt", action="store_true", help="cuBLAS only")
    p.add_argument("--nvtx", action="store_true", help="put each case's timed calls in an NVTX range")
    p.add_argument("--json", help="also write the rows to this file")
    a = p.parse_args()
    try:
        shapes = [tuple(int(v) for v in s.split("x")) for s in a.shapes.split(",")]
        tokens = [int(t) for t in a.tokens.split(",")]
    except ValueError:
        p.error(f"--shapes takes OUTxIN,... and --tokens N,...: got '{a.shapes}' / '{a.tokens}'")
    a.shapes, a.tokens = shapes, tokens
    if any(len(s) != 2 or min(s) <= 0 for s in a.shapes) or min(a.tokens) <= 0 or a.repeats <= 0:
        p.error("shapes, token counts and --repeats must be positive")
    return a


def two_four(w):
    """Keep the two largest |w| of every four consecutive inputs (the fully 2:4 weight the benchmark gives cuSPARSELt)."""
    g = w.view(w.shape[0], -1, 4)
    keep = torch.zeros_like(g, dtype=torch.bool).scatter_(2, g.abs().topk(2, dim=2).indices, True)
    return (g * keep).view_as(w)


def profile(fn, repeats, label, nvtx):
    """One profiled run of `repeats` calls (after 3 warm-ups), inside an NVTX range `label` where asked; its Kineto
    trace's kernel events, per kernel name: calls and device µs per op, grid, block, registers, shared memory."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        if nvtx:
            torch.cuda.nvtx.range_push(label)
        for _ in range(repeats):
            fn()
        if nvtx:
            torch.cuda.nvtx.range_pop()
        torch.cuda.synchronize()
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        prof.export_chrome_trace(path)
        with open(path) as f:
            trace = json.load(f)
    finally:
        os.unlink(path)
    return kernels_of_trace(trace, repeats)


LAUNCH_ARGS = ("grid", "block", "registers per thread", "shared memory", "blocks per SM", "warps per SM",
               "est. achieved occupancy %")


def kernels_of_trace(trace, repeats):
    """A row per kernel name of a Chrome trace's kernel events (`cat` "kernel", `dur` in µs, launch args)."""
    rows = {}
    for ev in trace.get("traceEvents", []):
        if ev.get("cat") != "kernel":
            continue
        r = rows.setdefault(ev["name"], {"kernel": ev["name"], "calls": 0, "us": 0.0})
        r["calls"] += 1
        r["us"] += ev.get("dur", 0)
        args = ev.get("args", {})
        r.update({k: args.get(k) for k in LAUNCH_ARGS})
    for r in rows.values():
        r["calls_per_op"], r["us_per_op"] = r.pop("calls") / repeats, r.pop("us") / repeats
    return list(rows.values())


def write_json_atomically(path, rows):
    """A temporary file of its own next to `path`, then renamed: no reader ever sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(rows, f, indent=1)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main():
    a = parse_args()
    if not torch.cuda.is_available():
        sys.exit("baseline_kernels: error: no CUDA device")
    torch.manual_seed(0)
    gpu = torch.cuda.get_device_name()
    out = []
    for rows_out, cols_in in a.shapes:
        w = torch.randn(rows_out, cols_in, device="cuda", dtype=torch.bfloat16) * 0.02
        compressed = None
        if not a.no_cslt:
            compressed = torch._cslt_compress(two_four(w))
        for m in a.tokens:
            x = torch.randn(m, cols_in, device="cuda", dtype=torch.bfloat16)
            cases = [("cublas", lambda: torch.matmul(x, w.t()))]
            if compressed is not None:
                mp = max(16, (m + 15) // 16 * 16)
                xp = torch.zeros(mp, cols_in, device="cuda", dtype=torch.bfloat16)
                xp[:m] = x
                try:
                    alg = torch._cslt_sparse_mm_search(compressed, xp.t(), transpose_result=True)
                except Exception:  # no search in this build: the default algorithm
                    alg = 0
                cases.append(("cslt", lambda: torch._cslt_sparse_mm(compressed, xp.t(), transpose_result=True,
                                                                       alg_id=alg)))
            for lib, fn in cases:
                label = f"{lib} {rows_out}x{cols_in} t{m}"  # no "@": ncu reads it as an NVTX domain separator
                for r in profile(fn, a.repeats, label, a.nvtx):
                    r.update({"gpu": gpu, "lib": lib, "shape": f"{rows_out}x{cols_in}", "tokens": m})
                    tflops = 2.0 * rows_out * cols_in * m / (r["us_per_op"] * 1e-6) / 1e12 if r["us_per_op"] else 0
                    r["tflops_if_alone"] = round(tflops, 1)
                    out.append(r)
                    print(f"{label:28s} {r['us_per_op']:8.1f} us  grid {r.get('grid')} block {r.get('block')} "
                          f"regs {r.get('registers per thread')} smem {r.get('shared memory')}  {r['kernel'][:150]}")
    if a.json:
        write_json_atomically(a.json, out)


if __name__ == "__main__":
    main()
