"""Bad model input through the CLI: one line `patchlm: error: ...` naming the problem, exit code 1, no crash and
nothing written."""
import json
import shutil

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from conftest import run


@pytest.fixture(scope="module")
def good_model(tmp_path_factory):
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=1,
                      num_attention_heads=4, num_key_value_heads=2)
    path = tmp_path_factory.mktemp("models") / "good"
    LlamaForCausalLM(cfg).save_pretrained(path, safe_serialization=True, max_shard_size="20KB")
    return path


def copy(good, tmp_path, name):
    dst = tmp_path / name
    shutil.copytree(good, dst)
    return dst


def expect_error(patchlm_bin, tmp_path, model, *needles):
    out = tmp_path / "out"
    code, stdout, stderr = run([patchlm_bin, "convert", model, out], expect_ok=False)
    assert code == 1, (code, stderr)
    assert stderr.startswith("patchlm: error: ") and stderr.count("\n") == 1, stderr
    for n in needles:
        assert n in stderr, (n, stderr)
    assert not out.exists(), "nothing may be written"
    assert not any(p.name.startswith(".out") for p in tmp_path.iterdir()), "no temporary left behind"
    return stderr


def shards(path):
    return sorted(path.glob("model-*.safetensors"))


def test_good_model_converts(good_model, tmp_path, patchlm_bin):
    run([patchlm_bin, "convert", good_model, tmp_path / "ok"])
    assert (tmp_path / "ok" / "config.json").exists()


def test_truncated_shard(good_model, tmp_path, patchlm_bin):
    m = copy(good_model, tmp_path, "m")
    s = shards(m)[-1]
    s.write_bytes(s.read_bytes()[:-100])
    expect_error(patchlm_bin, tmp_path, m, s.name, "truncated")


def test_header_lies_about_offsets(good_model, tmp_path, patchlm_bin):
    m = copy(good_model, tmp_path, "m")
    s = shards(m)[0]
    raw = bytearray(s.read_bytes())
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    name = next(k for k in header if k != "__metadata__")
    b, e = header[name]["data_offsets"]
    header[name]["data_offsets"] = [b + 4, e + 4]
    text = json.dumps(header, separators=(",", ":")).encode().ljust(n)
    assert len(text) == n
    s.write_bytes(bytes(raw[:8]) + text + bytes(raw[8 + n:]))
    expect_error(patchlm_bin, tmp_path, m, s.name)


def test_unknown_dtype(good_model, tmp_path, patchlm_bin):
    m = copy(good_model, tmp_path, "m")
    s = shards(m)[0]
    raw = s.read_bytes()
    s.write_bytes(raw.replace(b'"F32"', b'"Q9Z"', 1))
    expect_error(patchlm_bin, tmp_path, m, "unknown dtype", "'Q9Z'")


def test_shape_mismatch_with_config(good_model, tmp_path, patchlm_bin):
    m = copy(good_model, tmp_path, "m")
    cfg = json.loads((m / "config.json").read_text())
    cfg["intermediate_size"] = 50
    (m / "config.json").write_text(json.dumps(cfg))
    code, _, stderr = run([patchlm_bin, "generate", m, "--ids", "1,2", "--max-new-tokens", "1"], expect_ok=False)
    assert code == 1 and "mlp.gate_proj.weight" in stderr and "[50, 32]" in stderr, stderr


def test_missing_shard(good_model, tmp_path, patchlm_bin):
    m = copy(good_model, tmp_path, "m")
    victim = shards(m)[1]
    victim.unlink()
    expect_error(patchlm_bin, tmp_path, m, "missing", victim.name)


def test_unsupported_architecture(good_model, tmp_path, patchlm_bin):
    m = copy(good_model, tmp_path, "m")
    cfg = json.loads((m / "config.json").read_text())
    cfg["model_type"] = "gpt_neox"
    (m / "config.json").write_text(json.dumps(cfg))
    expect_error(patchlm_bin, tmp_path, m, "'gpt_neox'", "not supported")


def test_truncated_gguf(tmp_path, patchlm_bin, models_dir):
    src = models_dir / "smollm2-135m-instruct-q4_1.gguf"
    bad = tmp_path / "cut.gguf"
    with open(src, "rb") as f:
        bad.write_bytes(f.read(5_000_000))
    expect_error(patchlm_bin, tmp_path, bad, "cut.gguf")


def test_output_directory_exists(good_model, tmp_path, patchlm_bin):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("user data")
    code, _, stderr = run([patchlm_bin, "convert", good_model, tmp_path / "out"], expect_ok=False)
    assert code == 1 and "already exists" in stderr
    assert (tmp_path / "out" / "keep.txt").read_text() == "user data"
