"""scripts/prefill_trace.py against hand-made timelines of two CTAs whose numbers are known (no GPU needed): the
span, the ramp, the µs per K step, the stream-K and cluster exchange times and the ends it reports."""
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "prefill_trace.py"
EVENTS = 32


def cta(entry_ns, exit_ns, clock0, first_issue_us, first_data_us, segments):
    """One CTA's events at 2 clocks per ns: segments are (kind, steps, contributors, computed, exchanged, stored) in µs."""
    e = [0] * EVENTS
    us = lambda t: clock0 + int(t * 2000)
    e[0], e[1], e[31] = entry_ns, clock0, exit_ns
    e[3] = clock0 + 2 * (exit_ns - entry_ns)
    e[2], e[28] = us(first_data_us), us(first_issue_us)
    for s, (kind, steps, contributors, computed, exchanged, stored) in enumerate(segments):
        e[4 + 4 * s] = kind | steps << 8 | contributors << 16 | 7 << 32
        e[5 + 4 * s], e[6 + 4 * s] = us(computed), us(exchanged)
        e[7 + 4 * s] = us(stored) if stored else 0
    return e


def trace(tmp_path):
    events = cta(1000, 11000, 10**6, 1.0, 2.0, [(1, 4, 0, 6.0, 7.0, None)])  # contributes 4 steps, ends at 10 µs
    events += cta(1000, 13000, 5 * 10**5, 1.5, 2.0, [(2, 6, 1, 8.0, 10.0, 11.0)])  # finishes: gathers 1, ends at 12 µs
    t = {"rows": 256, "cols": 1024, "tokens": 64, "sparsity": 35, "tokens_per_tile": 64, "forced": False, "ctas": 2,
         "full_waves": 0, "tail_tiles": 1, "split_tail": True, "stream_ctas": 2, "steps_per_tile": 8,
         "events_per_cta": EVENTS, "events": events}
    path = tmp_path / "trace.json"
    path.write_text(json.dumps(t))
    return path


def test_summary_numbers_match_the_timeline(tmp_path):
    out = tmp_path / "summary.json"
    p = subprocess.run([sys.executable, SCRIPT, trace(tmp_path), "--ctas", "--json", out], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    [row] = json.loads(out.read_text())
    assert row["span_us"] == 12.0 and row["end_us_min"] == 10.0 and row["end_us_median"] == 11.0
    assert row["first_issue_us_median"] == 1.25 and row["first_slot_us_median"] == 2.0
    assert row["us_per_step_median"] == 1.0  # (6 − 2) / 4 and (8 − 2) / 6
    assert row["contribution_write_us_median"] == 1.0 and row["finisher_gather_us_median"] == 2.0
    assert row["contributors_median"] == 1 and row["stream_k_ctas"] == 2
    assert "finish 6 steps computed 8.00 exchanged 10.00" in p.stdout
    assert row["gpu"] == "unknown"  # the hand-made trace names none, and no --gpu


def test_the_gpu_is_the_traces_own_else_the_option(tmp_path):
    path = trace(tmp_path)
    out = tmp_path / "summary.json"
    assert subprocess.run([sys.executable, SCRIPT, path, "--gpu", "NVIDIA H200", "--json", out]).returncode == 0
    assert json.loads(out.read_text())[0]["gpu"] == "NVIDIA H200"
    t = json.loads(path.read_text())
    t["gpu"] = "NVIDIA H100 80GB HBM3"  # bench gemm --prefill-trace writes the device's name
    path.write_text(json.dumps(t))
    assert subprocess.run([sys.executable, SCRIPT, path, "--gpu", "NVIDIA H200", "--json", out]).returncode == 0
    assert json.loads(out.read_text())[0]["gpu"] == "NVIDIA H100 80GB HBM3"


def test_cluster_parts_report_their_exchange(tmp_path):
    # Two ranks of one cluster, 4 steps each: both sums in 1.0 / 1.5 µs after the last MMA, slice written 0.5 / 0.5 later.
    events = cta(1000, 11000, 10**6, 1.0, 2.0, [(3, 4, 0, 6.0, 7.0, 7.5)])
    events += cta(1000, 11000, 10**6, 1.0, 2.0, [(3, 4, 0, 6.0, 7.5, 8.0)])
    t = {"rows": 128, "cols": 1024, "tokens": 64, "sparsity": 25, "tokens_per_tile": 64, "forced": True, "split": "cluster",
         "ctas": 2, "full_waves": 0, "tail_tiles": 1, "split_tail": True, "stream_ctas": 2, "cluster": 2,
         "steps_per_tile": 8, "events_per_cta": EVENTS, "events": events}
    path, out = tmp_path / "trace.json", tmp_path / "summary.json"
    path.write_text(json.dumps(t))
    p = subprocess.run([sys.executable, SCRIPT, path, "--json", out], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    [row] = json.loads(out.read_text())
    assert row["cluster"] == 2 and row["split"] == "cluster" and row["stream_k_ctas"] == 0
    assert row["cluster_publish_us_median"] == 1.25 and row["cluster_sum_write_us_median"] == 0.5
    assert "split by clusters of 2 (2 CTAs)" in p.stdout and "split cluster forced" in p.stdout


def test_a_bad_file_is_one_line_naming_it(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{\"rows\": 1}")
    p = subprocess.run([sys.executable, SCRIPT, bad], capture_output=True, text=True)
    assert p.returncode != 0 and p.stderr.strip().startswith(f"prefill_trace: {bad}:"), p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
