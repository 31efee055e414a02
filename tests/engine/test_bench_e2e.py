"""`patchlm bench e2e` on the CPU with the packaged SmolLM2 GGUF: several prompt lengths are cases of one model (the
model loads once), each a row of the JSON with its own length; a real model given by path has no dense yardstick."""
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
