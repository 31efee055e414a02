#!/usr/bin/env python3
"""Sums up the wgmma prefill kernel's per-CTA timelines that `patchlm bench gemm --prefill-trace DIR` wrote (a build
with -DPATCHLM_PREFILL_TRACE=ON; the events are listed in src/kernels/prefill_trace.h).

    scripts/prefill_trace.py DIR/trace_*.json [--ctas] [--json SUMMARY.json]

Per call: the span (first CTA entry to last exit, globaltimer), when the CTAs started, issued their first copies and
got their first slot, the time per K step while streaming, when they ended, and for stream-K the time a contribution
took to write and a finisher to gather its contributors. --ctas also lists the five CTAs that ended last; --json writes
the summaries as a list of objects (docs/perf/)."""
import argparse
import json
import os
import statistics

KIND = {0: "whole", 1: "contribute", 2: "finish", 3: "cluster_part"}


def ctas_of(trace):
    per = trace["events_per_cta"]
    events = trace["events"]
    out = []
    for c in range(trace["ctas"]):
        e = events[c * per:(c + 1) * per]
        if e[0] == 0 or e[per - 1] <= e[0]:
            continue  # not traced (past the traced CTAs) or not finished
        # clock64 cycles per ns of this CTA's SM, from its entry-to-exit span
        ghz = (e[3] - e[1]) / (e[per - 1] - e[0])
        us = lambda clock: (clock - e[1]) / ghz / 1e3 if clock else None
        segments = []
        for s in range(6):
            info = e[4 + 4 * s]
            if info == 0 and e[5 + 4 * s] == 0:
                break
            segments.append({"kind": KIND[info & 0xFF], "steps": (info >> 8) & 0xFF, "contributors": (info >> 16) & 0xFFFF,
                             "computed": us(e[5 + 4 * s]), "exchanged": us(e[6 + 4 * s]), "stored": us(e[7 + 4 * s])})
        out.append({"cta": c, "entry_ns": e[0], "exit_ns": e[per - 1], "first_issue": us(e[28]),
                    "first_data": us(e[2]), "segments": segments})
    return out


def summary(path, list_ctas, gpu):
    t = json.load(open(path))
    ctas = ctas_of(t)
    t0 = min(c["entry_ns"] for c in ctas)
    span = (max(c["exit_ns"] for c in ctas) - t0) / 1e3
    starts = [(c["entry_ns"] - t0) / 1e3 for c in ctas]
    ends = [(c["exit_ns"] - t0) / 1e3 for c in ctas]
    med = statistics.median
    row = {"gpu": t.get("gpu") or gpu or "unknown", "shape": f"{t['rows']}x{t['cols']}", "tokens": t["tokens"],
           "sparsity": t["sparsity"],
           "tokens_per_tile": t["tokens_per_tile"], "ctas": t["ctas"], "whole_waves": t["full_waves"],
           "tail_tiles": t["tail_tiles"], "split": t.get("split", "rule"), "cluster": t.get("cluster", 1),
           "stream_k_ctas": t["stream_ctas"] if t["split_tail"] and t.get("cluster", 1) == 1 else 0,
           "span_us": round(span, 2), "first_issue_us_median": None, "first_slot_us_median": None,
           "first_slot_us_max": None, "end_us_min": round(min(ends), 2), "end_us_median": round(med(ends), 2)}
    issues = [c["first_issue"] for c in ctas if c["first_issue"]]
    firsts = [c["first_data"] for c in ctas if c["first_data"]]
    if issues:
        row["first_issue_us_median"] = round(med(issues), 2)
    if firsts:
        row["first_slot_us_median"], row["first_slot_us_max"] = round(med(firsts), 2), round(max(firsts), 2)
    cluster = t.get("cluster", 1)
    split_text = (f" split by clusters of {cluster} ({t['stream_ctas']} CTAs)" if cluster > 1
                  else f" split over {t['stream_ctas']} CTAs" if t["split_tail"] else "")
    print(f"{t['rows']}x{t['cols']} {t['tokens']} tokens σ={t['sparsity']} % N={t['tokens_per_tile']}"
          f"{' (forced)' if t['forced'] else ''}{', split ' + t['split'] + ' forced' if t.get('split', 'rule') != 'rule' else ''}:"
          f" {t['ctas']} CTAs, {t['full_waves']} whole waves, {t['tail_tiles']} tail tiles{split_text},"
          f" {t['steps_per_tile']} steps per tile")
    print(f"  span {span:.1f} µs; CTAs start {min(starts):.2f}–{max(starts):.2f}, first copies issued "
          f"{row['first_issue_us_median']} (median), first slot landed {row['first_slot_us_median']} (median, max "
          f"{row['first_slot_us_max']}); end {min(ends):.1f} / {med(ends):.1f} / {max(ends):.1f} (min / median / max)")
    rates = []
    for c in ctas:
        steps = sum(s["steps"] for s in c["segments"])
        last = max((s["computed"] for s in c["segments"] if s["computed"]), default=None)
        if steps and last and c["first_data"]:
            rates.append((last - c["first_data"]) / steps)
    if rates:
        print(f"  µs per K step from the first slot to the last MMA: median {med(rates):.3f}, max {max(rates):.3f}")
        row["us_per_step_median"] = round(med(rates), 3)
    writes = [s["exchanged"] - s["computed"] for c in ctas for s in c["segments"] if s["kind"] == "contribute" and s["exchanged"]]
    gathers = [(s["exchanged"] - s["computed"], s["contributors"]) for c in ctas for s in c["segments"] if s["kind"] == "finish" and s["exchanged"]]
    if gathers:
        print(f"  stream-K: a contribution takes {med(writes):.2f} µs to write (median); a finisher {med(g for g, _ in gathers):.2f} µs"
              f" (max {max(g for g, _ in gathers):.2f}) to gather its contributors (median {med(n for _, n in gathers)})")
        row.update({"contribution_write_us_median": round(med(writes), 2) if writes else None,
                    "finisher_gather_us_median": round(med(g for g, _ in gathers), 2),
                    "finisher_gather_us_max": round(max(g for g, _ in gathers), 2),
                    "contributors_median": med(n for _, n in gathers)})
    parts = [(s["exchanged"] - s["computed"], s["stored"] - s["exchanged"]) for c in ctas for s in c["segments"]
             if s["kind"] == "cluster_part" and s["exchanged"] and s["stored"]]
    if parts:
        print(f"  clusters: a rank waits {med(p for p, _ in parts):.2f} µs (median, max {max(p for p, _ in parts):.2f}) from its"
              f" last MMA until every rank's sums are in, then {med(w for _, w in parts):.2f} µs (max"
              f" {max(w for _, w in parts):.2f}) to add its slice up and write it")
        row.update({"cluster_publish_us_median": round(med(p for p, _ in parts), 2),
                    "cluster_sum_write_us_median": round(med(w for _, w in parts), 2)})
    if list_ctas:
        for c in sorted(ctas, key=lambda c: c["exit_ns"])[-5:]:
            segs = ", ".join(f"{s['kind']} {s['steps']} steps computed {s['computed']:.2f}" +
                             (f" exchanged {s['exchanged']:.2f}" if s["kind"] != "whole" and s["exchanged"] else "") for s in c["segments"])
            print(f"    CTA {c['cta']:>3}: {(c['entry_ns'] - t0) / 1e3:.2f}–{(c['exit_ns'] - t0) / 1e3:.2f} µs: {segs}")
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("traces", nargs="+", help="trace_*.json files from bench gemm --prefill-trace")
    parser.add_argument("--ctas", action="store_true", help="also list the five CTAs that ended last")
    parser.add_argument("--json", help="also write the summaries to this JSON file")
    parser.add_argument("--gpu", help="the GPU of traces that do not name it "
                                      "(bench gemm wrote none before 2026-12-06 stop 56; for --json)")
    args = parser.parse_args()
    rows = []
    for path in args.traces:
        try:
            rows.append(summary(path, args.ctas, args.gpu))
        except (OSError, ValueError, KeyError, ZeroDivisionError) as e:
            raise SystemExit(f"prefill_trace: {path}: {e}")
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(rows, f, indent=1)
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
