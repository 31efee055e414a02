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
