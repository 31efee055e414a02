"""scripts/baseline_kernels.py without a GPU: the fully 2:4 weight it hands cuSPARSELt keeps exactly the two largest
magnitudes of every four inputs, its rows are the trace's kernel events, its JSON is written whole or not at all, and bad
arguments or a machine without CUDA end in one clear line and exit code != 0."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "baseline_kernels.py"


def load():
    spec = importlib.util.spec_from_file_location("baseline_kernels", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_two_four_keeps_the_two_largest_of_every_four():
    torch.manual_seed(1)
    w = torch.randn(8, 32)
    pruned = load().two_four(w.clone())
    groups, kept = w.view(8, 8, 4), pruned.view(8, 8, 4)
    assert ((kept != 0).sum(dim=2) == 2).all()
    for r in range(8):
        for g in range(8):
            largest = set(groups[r, g].abs().topk(2).indices.tolist())
            assert set(kept[r, g].nonzero().flatten().tolist()) == largest
            for i in largest:
                assert kept[r, g, i] == groups[r, g, i]


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def test_bad_shapes_and_counts_are_refused_with_the_value():
    for args, needle in ((["--shapes", "4096x"], "4096x"), (["--tokens", "12,abc"], "12,abc"),
                         (["--tokens", "0"], "positive"), (["--repeats", "0"], "positive")):
        r = run(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert needle in r.stderr.strip().splitlines()[-1], (args, r.stderr)


def test_no_cuda_is_one_line_and_nonzero():
    if torch.cuda.is_available():
        return  # this check is for machines without a GPU
    r = run("--shapes", "128x128", "--tokens", "16")
    assert r.returncode != 0
    assert r.stderr.strip() == "baseline_kernels: error: no CUDA device"


def test_json_is_written_whole_or_not_at_all(tmp_path):
    module = load()
    target = tmp_path / "rows.json"
    module.write_json_atomically(str(target), [{"lib": "cublas", "us_per_op": 1.5}])
    assert target.read_text().startswith("[")
    try:
        module.write_json_atomically(str(target), [{"bad": object()}])  # not JSON: the old file must stay
    except TypeError:
        pass
    else:
        raise AssertionError("an unserialisable row was written")
    assert "cublas" in target.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.json"]


def test_kernel_rows_come_from_the_trace_kernel_events():
    launch = {"grid": [2, 66, 1], "block": [384, 1, 1], "registers per thread": 168, "shared memory": 213188}
    trace = {"traceEvents": [
        {"cat": "kernel", "name": "gemm", "dur": 10.0, "args": launch},
        {"cat": "kernel", "name": "gemm", "dur": 14.0, "args": launch},
        {"cat": "kernel", "name": "finish", "dur": 1.0, "args": {"grid": [1, 1, 1]}},
        {"cat": "gpu_memcpy", "name": "Memcpy HtoD", "dur": 50.0},
        {"cat": "cpu_op", "name": "aten::mm", "dur": 99.0},
    ]}
    rows = {r["kernel"]: r for r in load().kernels_of_trace(trace, repeats=2)}
    assert sorted(rows) == ["finish", "gemm"]
    assert rows["gemm"]["calls_per_op"] == 1 and rows["gemm"]["us_per_op"] == 12.0
    assert rows["gemm"]["grid"] == [2, 66, 1] and rows["gemm"]["shared memory"] == 213188
    assert rows["finish"]["calls_per_op"] == 0.5 and rows["finish"]["us_per_op"] == 0.5
    assert rows["finish"]["registers per thread"] is None
