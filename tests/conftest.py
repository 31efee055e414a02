"""Shared fixtures of the Python oracle tests: where the patchlm binary and the packaged models are."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def patchlm_bin():
    path = os.environ.get("PATCHLM_BIN", str(ROOT / "build" / "patchlm"))
    assert os.path.exists(path), f"patchlm binary not found at {path} (set PATCHLM_BIN)"
    return path


@pytest.fixture(scope="session")
def tools_dir():
    return pathlib.Path(os.environ.get("PATCHLM_TOOLS", str(ROOT / "build" / "tests")))


@pytest.fixture(scope="session")
def models_dir():
    return ROOT / "data" / "models"


def run(cmd, expect_ok=True):
    """Runs a command; returns (returncode, stdout, stderr)."""
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if expect_ok:
        assert p.returncode == 0, f"{cmd} failed ({p.returncode}): {p.stderr}"
    return p.returncode, p.stdout, p.stderr


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory):
    """A tiny random LLaMA with the real LLaMA-2 tokenizer (real text, real tokenization, fast model)."""
    import lzma

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    path = tmp_path_factory.mktemp("tiny") / "model"
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=32000, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512))
    model.config._attn_implementation = "eager"
    model.eval().save_pretrained(path, safe_serialization=True)
    shared = ROOT.parent / "shared" / "tokenizers" / "llama2"
    (path / "tokenizer.json").write_bytes(lzma.decompress((shared / "tokenizer.json.xz").read_bytes()))
    (path / "tokenizer_config.json").write_bytes((shared / "tokenizer_config.json").read_bytes())
    return model, path
