"""`patchlm prune --method magnitude`: exact invariants and the reference choice of kept weights, on a tiny random
LLaMA; the pruned checkpoint (weights zeroed) loads in transformers."""
import pytest
import torch
from safetensors.torch import load_file

from conftest import run

PROJ = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def weights(path):
    return {k: v for k, v in load_file(str(path / "model.safetensors")).items() if k.split(".")[-2] in PROJ}


@pytest.mark.parametrize("pattern", ["2:4", "4:8", "unstructured"])
def test_magnitude_keeps_exactly_the_reference_weights(pattern, tiny_llama, tmp_path, patchlm_bin):
    _, path = tiny_llama
    out = tmp_path / "pruned"
    _, table, _ = run([patchlm_bin, "prune", path, "--method", "magnitude", "--pattern", pattern, "--sparsity", "0.5",
                       "--out", tmp_path / "masks.safetensors", "--save-pruned", out])
    assert "all 14 projections" in table and "| 0.5000 |" in table
    original, pruned = weights(path), weights(out)
    assert original.keys() == pruned.keys() and len(original) == 14
    for name, w in original.items():
        if pattern == "unstructured":
            k = round(w.shape[1] * 0.5)
            ref = torch.ones_like(w, dtype=torch.bool)
            ref.scatter_(1, w.abs().topk(k, dim=1, largest=False).indices, False)
            assert ((pruned[name] == 0).sum(1) == k).all()  # exact sparsity in every row
        else:
            n, m = map(int, pattern.split(":"))
            g = w.abs().reshape(w.shape[0], -1, m)
            ref = torch.zeros_like(g, dtype=torch.bool).scatter_(2, g.topk(n, dim=2).indices, True).reshape(w.shape)
            assert ((pruned[name] != 0).reshape(w.shape[0], -1, m).sum(2) == n).all()  # n of every m kept
        assert torch.equal(pruned[name], w * ref), name


def test_pruned_checkpoint_loads_in_transformers(tiny_llama, tmp_path, patchlm_bin):
    from transformers import AutoModelForCausalLM
    _, path = tiny_llama
    out = tmp_path / "pruned"
    run([patchlm_bin, "prune", path, "--out", tmp_path / "m.safetensors", "--save-pruned", out])
    model = AutoModelForCausalLM.from_pretrained(str(out)).eval()
    w = model.model.layers[0].mlp.up_proj.weight
    assert ((w != 0).reshape(w.shape[0], -1, 4).sum(2) == 2).all()
    # The pruned directory has no tokenizer of its own: eval borrows the source's.
    code, table, err = run([patchlm_bin, "eval", out, "--tokenizer", path, "--seq-len", "64", "--max-windows", "2"],
                           expect_ok=False)
    assert code == 0 and "| test | 64 | 2 |" in table, err


def test_bad_prune_options(tiny_llama, tmp_path, patchlm_bin):
    _, path = tiny_llama
    for args, needle in [(["--pattern", "3:2"], "'3:2'"), (["--method", "wanda"], "not implemented yet"),
                         (["--pattern", "unstructured", "--sparsity", "1.5"], "--sparsity")]:
        code, _, err = run([patchlm_bin, "prune", path, "--out", tmp_path / "m.safetensors"] + args, expect_ok=False)
        assert code == 2 and needle in err and err.count("\n") == 1, err
    assert not (tmp_path / "m.safetensors").exists()
