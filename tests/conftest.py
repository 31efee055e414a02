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


def shared_dir():
    """The project's fixture folder beside the checkout (../shared, or $PATCHLM_SHARED): the project's CI machines
    have it, a user's fresh clone never does."""
    return pathlib.Path(os.environ.get("PATCHLM_SHARED", str(ROOT.parent / "shared")))


def ci_required():
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def shared_tokenizers():
    """../shared/tokenizers (the real LLaMA-2/3, Qwen-3, Gemma-3 tokenizer.json files). Absent: the test is skipped
    with one line saying so — or fails when CI=true, where the files are required."""
    path = shared_dir() / "tokenizers"
    if not path.is_dir():
        if ci_required():
            pytest.fail(f"{path} is missing: the real tokenizer files are required when CI=true")
        pytest.skip(f"skipped: the real tokenizer files are not at {path} (a fresh clone has none; set PATCHLM_SHARED)")
    return path


@pytest.fixture(scope="session")
def smollm2_tokenizer(tmp_path_factory, tools_dir, models_dir):
    """tokenizer.json + tokenizer_config.json of the packaged SmolLM2 GGUF, written by patchlm (tests/tools)."""
    path = tmp_path_factory.mktemp("smollm2_tokenizer")
    run([tools_dir / "gguf_tokenizer", models_dir / "smollm2-135m-instruct-q4_1.gguf", path])
    return path


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory, smollm2_tokenizer):
    """A tiny random LLaMA with the real SmolLM2 tokenizer (real text, real tokenization, fast model)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    path = tmp_path_factory.mktemp("tiny") / "model"
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=49152, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512))
    model.config._attn_implementation = "eager"
    model.eval().save_pretrained(path, safe_serialization=True)
    for name in ["tokenizer.json", "tokenizer_config.json"]:
        (path / name).write_bytes((smollm2_tokenizer / name).read_bytes())
    return model, path
