"""`patchlm bench e2e` on the CPU with the packaged SmolLM2 GGUF: several prompt lengths are cases of one model (the
model loads once), each a row of the JSON with its own length; a real model given by path has no dense yardstick; with
--rounds each figure is the median of the rounds' readings, which the row also lists."""
import json

from conftest import run

SMOLLM2 = "smollm2-135m-instruct-q4_1.gguf"


def test_prompt_lengths_are_cases_of_one_model(models_dir, tmp_path, patchlm_bin):
    out = tmp_path / "e2e.json"
    _, stdout, _ = run([patchlm_bin, "bench", "e2e", "--shapes", "none", "--models", models_dir / SMOLLM2, "--batch", "1",
                        "--prompt", "6,13", "--new-tokens", "2", "--no-baseline", "--json", out])
    rows = json.loads(out.read_text())
    assert [r["prompt_tokens"] for r in rows] == [6, 13]
    for r in rows:
        assert r["gpu"] == "cpu" and r["batch"] == 1 and r["new_tokens"] == 2
        assert r["prefill_tokens_per_s"] > 0 and r["decode_tokens_per_s"] > 0
        assert "prefill_vs_own_dense" not in r and "decode_vs_own_dense" not in r
    table = [line for line in stdout.splitlines() if line.startswith(f"| {models_dir / SMOLLM2} |")]
    assert [line.split("|")[4].strip() for line in table] == ["6", "13"]


def test_rounds_report_each_figures_median_round(models_dir, tmp_path, patchlm_bin):
    out = tmp_path / "e2e.json"
    _, stdout, _ = run([patchlm_bin, "bench", "e2e", "--shapes", "none", "--models", models_dir / SMOLLM2, "--batch", "1",
                        "--prompt", "5,9", "--new-tokens", "2", "--no-baseline", "--rounds", "3", "--json", out])
    rows = json.loads(out.read_text())
    assert [r["prompt_tokens"] for r in rows] == [5, 9]
    for r in rows:
        assert r["rounds"] == 3
        for figure in ("prefill_tokens_per_s", "decode_tokens_per_s"):
            readings = r[figure + "_by_round"]
            assert len(readings) == 3 and min(readings) > 0
            assert r[figure] == sorted(readings)[1]  # the median round
        assert "prefill_vs_own_dense_by_round" not in r  # a real model has no dense yardstick
    assert len([line for line in stdout.splitlines() if line.startswith(f"| {models_dir / SMOLLM2} |")]) == 2
