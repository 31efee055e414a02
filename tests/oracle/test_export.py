"""`patchlm export --format hf` and `patchlm inspect`: the exported checkpoint loads in transformers and computes
what patchlm computes with the mask applied; inspect reports the sparsity of masks and checkpoints; bad input."""
import json

import torch
from safetensors.torch import load_file

from conftest import run


def test_export_hf_matches_masked_forward(tiny_llama, tmp_path, patchlm_bin):
    from transformers import AutoModelForCausalLM
    _, path = tiny_llama
    masks = tmp_path / "m.safetensors"
    run([patchlm_bin, "prune", path, "--method", "magnitude", "--pattern", "unstructured", "--sparsity", "0.4",
         "--out", masks])
    out = tmp_path / "exported"
    run([patchlm_bin, "export", path, out, "--masks", masks])
    assert (out / "tokenizer.json").exists() and json.load(open(out / "config.json"))["hidden_size"] == 64
    ids = [[1, 450, 4996, 17354, 1701, 29916, 432, 17204], [1, 306, 763, 278, 1900, 310, 17354, 29889]]
    run([patchlm_bin, "forward", path, "--masks", masks, "--ids", ";".join(",".join(map(str, r)) for r in ids),
         "--out", tmp_path / "ours.safetensors"])
    ours = load_file(str(tmp_path / "ours.safetensors"))["logits"]
    model = AutoModelForCausalLM.from_pretrained(str(out)).eval()
    with torch.no_grad():
        theirs = model(torch.tensor(ids)).logits
    assert torch.allclose(ours, theirs, atol=1e-4, rtol=0), (ours - theirs).abs().max()
    original = load_file(str(path / "model.safetensors"))
    exported = load_file(str(out / "model.safetensors"))
    w = exported["model.layers.1.mlp.down_proj.weight"]
    assert ((w == 0).sum(1) == round(0.4 * w.shape[1])).all()
    assert torch.equal(exported["model.embed_tokens.weight"], original["model.embed_tokens.weight"])
    # inspect sees the same sparsity in the mask file and in the exported checkpoint.
    _, m_json, _ = run([patchlm_bin, "inspect", masks, "--json"])
    _, c_json, _ = run([patchlm_bin, "inspect", out, "--json", "--tile-size", "32x32"])
    m, c = json.loads(m_json), json.loads(c_json)
    assert m["kind"] == "mask file" and c["kind"].startswith("checkpoint")
    assert abs(m["sparsity"] - 0.4) < 0.01 and abs(c["sparsity"] - m["sparsity"]) < 1e-9
    assert len(c["layers"]) == 14 and c["bytes_on_disk"] > 0


def test_inspect_counts_2to4_tiles(tiny_llama, tmp_path, patchlm_bin):
    _, path = tiny_llama
    run([patchlm_bin, "prune", path, "--out", tmp_path / "m.safetensors"])
    _, table, _ = run([patchlm_bin, "inspect", tmp_path / "m.safetensors", "--tile-size", "32x32"])
    assert "| **all 14 masked layers** | | | 0.5000 | |" in table
    assert table.count("| 2:4 indices | 0.5000 | 1.000 |") == 14


def test_bad_export_input(tiny_llama, tmp_path, patchlm_bin):
    from transformers import LlamaConfig, LlamaForCausalLM
    _, path = tiny_llama
    other = tmp_path / "other"
    LlamaForCausalLM(LlamaConfig(vocab_size=32000, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2)).save_pretrained(other)
    run([patchlm_bin, "prune", other, "--out", tmp_path / "other.safetensors"])
    run([patchlm_bin, "prune", path, "--out", tmp_path / "m.safetensors"])
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes((tmp_path / "m.safetensors").read_bytes()[:200])
    (tmp_path / "exists").mkdir()
    (tmp_path / "exists" / "keep.txt").write_text("x")
    cases = [(["--masks", tmp_path / "other.safetensors"], tmp_path / "o1", 1, "another model"),
             (["--masks", corrupt], tmp_path / "o2", 1, "corrupt.safetensors"),
             (["--masks", tmp_path / "m.safetensors"], tmp_path / "exists", 1, "already exists"),
             (["--masks", tmp_path / "m.safetensors", "--format", "hybrid"], tmp_path / "o3", 2, "--format")]
    for extra, out, code, needle in cases:
        c, _, err = run([patchlm_bin, "export", path, out] + extra, expect_ok=False)
        assert c == code and needle in err and err.count("patchlm: error") == 1, (extra, err)
    assert not any((tmp_path / d).exists() for d in ("o1", "o2", "o3"))
    assert (tmp_path / "exists" / "keep.txt").read_text() == "x" and len(list((tmp_path / "exists").iterdir())) == 1
    c, _, err = run([patchlm_bin, "inspect", tmp_path / "nope"], expect_ok=False)
    assert c == 1 and "nope" in err
