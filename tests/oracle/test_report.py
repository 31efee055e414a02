"""`patchlm report`: one self-contained HTML page (inline SVG, no script, no network) with the trade-off chart, the
learning curves, per-layer sparsity bars and tile maps of a run directory — rendered by headless Chromium to a PNG."""
import json
import re
import shutil
import struct
import subprocess

import pytest

from conftest import run


def make_run(patchlm_bin, path, run_dir):
    run_dir.mkdir()
    run([patchlm_bin, "prune", path, "--method", "magnitude", "--out", run_dir / "magnitude.masks.safetensors"])
    run([patchlm_bin, "--quiet", "learn", path, "--mode", "tile", "--tile-size", "32x32", "--target-sparsity", "0.3",
         "--seq-len", "64", "--max-sequences", "16", "--steps", "4", "--calib-samples", "4", "--calib-seq-len", "64",
         "--checkpoint-dir", run_dir / "patch-tile-0.3.run", "--out", run_dir / "patch-tile-0.3.masks.safetensors"])
    rows = []
    for method, masks in (("dense", None), ("magnitude", "magnitude"), ("patch-tile-0.3", "patch-tile-0.3")):
        extra = ["--masks", run_dir / f"{masks}.masks.safetensors"] if masks else []
        run([patchlm_bin, "eval", path, "--seq-len", "64", "--max-windows", "2", "--out", run_dir / "e.json"] + extra)
        ppl = json.load(open(run_dir / "e.json"))["perplexity"]
        ppl = ppl["ppl"] if isinstance(ppl, dict) else ppl
        rows.append({"method": method, "sparsity": {"dense": 0, "magnitude": 0.5}.get(method, 0.3), "ppl": ppl})
    (run_dir / "e.json").unlink()
    (run_dir / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_report_has_every_part_and_renders(tiny_llama, tmp_path, patchlm_bin):
    _, path = tiny_llama
    run_dir = tmp_path / "run"
    make_run(patchlm_bin, path, run_dir)
    out = tmp_path / "report.html"
    _, said, _ = run([patchlm_bin, "report", run_dir, "-o", out, "--tile-size", "32x32"])
    assert "3 results, 1 learning runs, 2 mask files, 28 tile maps" in said, said
    html = out.read_text()
    assert '<section id="tradeoff">' in html and '<section id="curves">' in html
    assert html.count('<section class="mask">') == 2 and html.count('<figure class="tilemap">') == 28
    assert html.count("<svg") == 1 + 3 + 2 * (1 + 14)  # trade-off, 3 curves, per mask: bars + 14 tile maps
    assert "<script" not in html and not re.search(r'(src|href)="(https?:)?//', html)
    assert html.count('class="bar"') == 28 and "patch-tile" in html and "magnitude" in html
    # 2:4 magnitude mask: every tile is 2:4; nothing dense.
    first = html[html.index('<section class="mask">'):]
    first = first[:first.index("</section>")]
    assert "magnitude.masks" in first and 'class="k1"' in first and 'class="k0"' not in first.split("</h3>", 1)[1]

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs it)")
    png = tmp_path / "report.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1200,2400", f"--screenshot={png}", out.as_uri()],
                   check=True, capture_output=True, timeout=120)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1200, 2400) and len(data) > 30_000  # a page with content, not a blank one


def test_bad_report_input(tmp_path, patchlm_bin):
    (tmp_path / "empty").mkdir()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "results.jsonl").write_text('{"method": "dense", "ppl": 3}\nnot json\n')
    cases = [([tmp_path / "nope", "-o", tmp_path / "a.html"], 1, "not a run directory"),
             ([tmp_path / "empty", "-o", tmp_path / "b.html"], 1, "nothing to report"),
             ([bad, "-o", tmp_path / "c.html"], 1, "line 2"),
             ([bad, "-o", tmp_path / "d.html", "--tile-size", "big"], 2, "--tile-size")]
    for args, code, needle in cases:
        c, _, err = run([patchlm_bin, "report"] + args, expect_ok=False)
        assert c == code and needle in err and err.count("patchlm: error") == 1, (args, err)
    assert not list(tmp_path.glob("*.html"))
