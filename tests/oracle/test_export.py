"""`patchlm export --format hf|hybrid` and `patchlm inspect`: the HF export loads in transformers and computes what
patchlm computes with the mask applied; the hybrid checkpoint unpacks exactly to W ⊙ M (bf16) and patchlm computes the
same logits from it as from the bf16 HF export; inspect reports the sparsity of masks and checkpoints; bad input."""
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
             (["--masks", tmp_path / "m.safetensors", "--format", "gguf"], tmp_path / "o3", 2, "--format"),
             (["--masks", tmp_path / "m.safetensors", "--format", "hybrid", "--tile-size", "16x48"], tmp_path / "o4",
              2, "--tile-size"),
             (["--masks", tmp_path / "other.safetensors", "--format", "hybrid"], tmp_path / "o5", 1, "another model")]
    for extra, out, code, needle in cases:
        c, _, err = run([patchlm_bin, "export", path, out] + extra, expect_ok=False)
        assert c == code and needle in err and err.count("patchlm: error") == 1, (extra, err)
    assert not any((tmp_path / d).exists() for d in ("o1", "o2", "o3", "o4", "o5"))
    assert (tmp_path / "exists" / "keep.txt").read_text() == "x" and len(list((tmp_path / "exists").iterdir())) == 1
    c, _, err = run([patchlm_bin, "inspect", tmp_path / "nope"], expect_ok=False)
    assert c == 1 and "nope" in err


IDS = [[1, 450, 4996, 17354, 1701, 29916, 432, 17204], [1, 306, 763, 278, 1900, 310, 17354, 29889]]


def forward(patchlm_bin, model, out, *extra):
    run([patchlm_bin, "forward", model, "--ids", ";".join(",".join(map(str, r)) for r in IDS), "--out", out] +
        list(extra))
    return load_file(str(out))["logits"]


def unpack_reference(tiles, cols, two_four, tile_rows, tile_cols):
    """An independent reading of docs/format.md: the tile-CSR lists and the mma fragment order, back to dense."""
    rb_count, per_row = cols.shape
    w = torch.zeros(rb_count * tile_rows, per_row * tile_cols, dtype=torch.bfloat16)
    raw = tiles.numpy().tobytes()
    at = 0
    for rb in range(rb_count):
        for i in range(per_row):
            r0, c0 = rb * tile_rows, int(cols[rb, i]) * tile_cols
            sparse = i < int(two_four[rb])
            size = tile_rows * tile_cols * (9 // 8 if False else 1) * (9 if sparse else 16) // 8
            block = torch.frombuffer(bytearray(raw[at:at + size]), dtype=torch.uint8)
            at += size
            for s in range(tile_rows // 16):
                if sparse:
                    sl = block[s * 18 * tile_cols:(s + 1) * 18 * tile_cols]
                    vals = sl[:16 * tile_cols].view(torch.bfloat16)
                    meta = sl[16 * tile_cols:].view(torch.int32)
                    words = tile_cols // 64
                    for j in range(tile_cols // 32):
                        for lane in range(32):
                            g, t = lane // 4, lane % 4
                            for q in range(4):
                                row, group = g + 8 * (q & 1), t + 4 * (q >> 1)
                                mlane = 4 * g + 2 * (j % 2) + group // 4
                                word = int(meta[mlane * words + j // 2]) & 0xFFFFFFFF
                                nib = (word >> (4 * (group % 4) + 16 * (q & 1))) & 0xF
                                v = vals[((j * 32 + lane) * 4 + q) * 2:((j * 32 + lane) * 4 + q) * 2 + 2]
                                base = c0 + 32 * j + 4 * group
                                w[r0 + 16 * s + row, base + (nib & 3)] = v[0]
                                w[r0 + 16 * s + row, base + (nib >> 2)] = v[1]
                else:
                    sl = block[s * 32 * tile_cols:(s + 1) * 32 * tile_cols].view(torch.bfloat16)
                    for st in range(tile_cols // 16):
                        for lane in range(32):
                            g, t = lane // 4, lane % 4
                            for q in range(4):
                                for h in range(2):
                                    row, col = g + 8 * (q & 1), 16 * st + 2 * t + 8 * (q >> 1) + h
                                    w[r0 + 16 * s + row, c0 + col] = sl[((st * 32 + lane) * 4 + q) * 2 + h]
    assert at == len(raw)
    return w


def test_export_hybrid_round_trips_and_computes_like_the_hf_export(tiny_llama, tmp_path, patchlm_bin):
    _, path = tiny_llama
    # A PATCH^Tile mask: some 32x32 tiles dense, the others 2:4.
    masks = tmp_path / "m.safetensors"
    run([patchlm_bin, "--quiet", "learn", path, "--mode", "tile", "--tile-size", "32x32", "--target-sparsity", "0.3",
         "--seq-len", "64", "--max-sequences", "16", "--steps", "3", "--calib-samples", "4", "--calib-seq-len", "64",
         "--out", masks])
    hybrid = tmp_path / "hybrid"
    _, said, _ = run([patchlm_bin, "export", path, hybrid, "--masks", masks, "--format", "hybrid",
                      "--tile-size", "32x64"])
    assert "weights packed" in said
    hf = tmp_path / "hf"
    run([patchlm_bin, "export", path, hf, "--masks", masks, "--dtype", "bf16"])
    assert (hybrid / "tokenizer.json").exists() and (hybrid / "config.json").exists()

    # Every packed weight unpacks (by an independent reading of the format) to the bf16 HF export's weight.
    packed = load_file(str(hybrid / "model.hybrid.safetensors"))
    dense = load_file(str(hf / "model.safetensors"))
    names = sorted(k[:-len(":hybrid.tiles")] for k in packed if k.endswith(":hybrid.tiles"))
    assert len(names) == 12  # q k v o gate up of 2 blocks; down_proj (96 columns) is not divided by 64: stored dense
    shares = []
    for n in names:
        w = unpack_reference(packed[n + ":hybrid.tiles"], packed[n + ":hybrid.cols"], packed[n + ":hybrid.two_four"],
                             32, 64)
        assert torch.equal(w, dense[n]), n
        shares.append(float(packed[n + ":hybrid.two_four"].sum()) / packed[n + ":hybrid.cols"].numel())
    assert 0 < sum(shares) / len(shares) < 1  # a real mix of 2:4 and dense tiles
    assert torch.equal(packed["model.layers.0.mlp.down_proj.weight"], dense["model.layers.0.mlp.down_proj.weight"])
    assert torch.equal(packed["model.embed_tokens.weight"], dense["model.embed_tokens.weight"])

    # patchlm computes the same logits from the hybrid checkpoint as from the bf16 HF export.
    assert torch.equal(forward(patchlm_bin, hybrid, tmp_path / "a.safetensors"),
                       forward(patchlm_bin, hf, tmp_path / "b.safetensors"))
    _, j, _ = run([patchlm_bin, "inspect", hybrid, "--json", "--tile-size", "32x64"])
    report = json.loads(j)
    assert report["kind"].startswith("checkpoint (hybrid") and len(report["layers"]) == 14
    _, m, _ = run([patchlm_bin, "inspect", masks, "--json"])
    assert abs(report["sparsity"] - json.loads(m)["sparsity"]) < 1e-9
    # Bytes: a 2:4 tile takes 9/16 of the dense bytes.
    for n, share in zip(names, shares):
        assert packed[n + ":hybrid.tiles"].numel() == dense[n].numel() * 2 * (1 - 0.4375 * share)


def test_bad_hybrid_checkpoints(tiny_llama, tmp_path, patchlm_bin):
    _, path = tiny_llama
    masks = tmp_path / "m.safetensors"
    run([patchlm_bin, "prune", path, "--out", masks])
    good = tmp_path / "good"
    run([patchlm_bin, "export", path, good, "--masks", masks, "--format", "hybrid", "--tile-size", "32x64"])
    packed = load_file(str(good / "model.hybrid.safetensors"))
    from safetensors import safe_open
    from safetensors.torch import save_file
    with safe_open(str(good / "model.hybrid.safetensors"), "pt") as f:
        meta = f.metadata()
    import shutil
    name = "model.layers.0.self_attn.q_proj.weight"

    def variant(label, tensors, metadata):
        d = tmp_path / label
        shutil.copytree(good, d)
        save_file(tensors, str(d / "model.hybrid.safetensors"), metadata=metadata)
        return d

    bad_meta = dict(packed)
    tiles = packed[name + ":hybrid.tiles"].clone()
    tiles[16 * 64:16 * 64 + 4] = 0  # metadata of the first 2:4 slice: index pair (0, 0) is invalid
    bad_meta[name + ":hybrid.tiles"] = tiles
    short = dict(packed)
    short[name + ":hybrid.tiles"] = packed[name + ":hybrid.tiles"][:-16].clone()
    dup = dict(packed)
    cols = packed[name + ":hybrid.cols"].clone()
    cols[0, 0] = 5  # out of the row block
    dup[name + ":hybrid.cols"] = cols
    missing = {k: v for k, v in packed.items() if k != name + ":hybrid.two_four"}
    cases = [(variant("meta", bad_meta, meta), "invalid 2:4 index pair"),
             (variant("short", short, meta), "bytes of tiles"),
             (variant("dup", dup, meta), "tile column"),
             (variant("missing", missing, meta), "two_four"),
             (variant("version", packed, {**meta, "hybrid_layout_version": "99"}), "layout version 99")]
    for model, needle in cases:
        c, _, err = run([patchlm_bin, "forward", model, "--ids", "1,2,3", "--out", tmp_path / "x.safetensors"],
                        expect_ok=False)
        assert c == 1 and needle in err and err.count("patchlm: error") == 1, (model, err)
    c, _, err = run([patchlm_bin, "eval", good, "--masks", masks], expect_ok=False)
    assert c == 2 and "already pruned" in err


def test_hybrid_checkpoint_on_cuda_runs_the_kernel_and_matches_the_masked_model(tmp_path, patchlm_bin):
    """On a GPU machine: the packed projections run on the hybrid kernel (bf16) and give the logits of the masked
    model within bf16 tolerance — for all-2:4 (2:4 mask) and all-dense (unstructured mask) tiles."""
    import pytest
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from transformers import LlamaConfig, LlamaForCausalLM
    model = tmp_path / "model"
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=1000, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2)).save_pretrained(model)
    ids = ";".join(",".join(str((7 * i + 3 * r) % 1000) for i in range(40)) for r in range(2))
    for pattern in ("2:4", "unstructured"):
        masks = tmp_path / f"{pattern[0]}.safetensors"
        run([patchlm_bin, "prune", model, "--method", "magnitude", "--pattern", pattern, "--sparsity", "0.5",
             "--out", masks])
        hybrid = tmp_path / f"hybrid{pattern[0]}"
        run([patchlm_bin, "export", model, hybrid, "--masks", masks, "--format", "hybrid", "--tile-size", "64x64"])
        common = ["--ids", ids, "--device", "cuda", "--dtype", "bf16"]
        _, _, log = run([patchlm_bin, "forward", hybrid, "--out", tmp_path / "h.safetensors"] + common)
        assert "hybrid" in log and "14" in log, log  # all 14 projections on the kernel
        run([patchlm_bin, "forward", model, "--masks", masks, "--out", tmp_path / "m.safetensors"] + common)
        got, want = (load_file(str(tmp_path / f))["logits"] for f in ("h.safetensors", "m.safetensors"))
        assert (got - want).abs().max() <= 0.03 * want.abs().max(), (pattern, (got - want).abs().max())


def test_random_llama_for_the_gpu_load_test_exports_as_a_hybrid(tmp_path, patchlm_bin):
    """bench/random_llama.py (the GPU serving load test's models): its mask file is a valid PATCH-like hybrid whose
    metadata sparsity is the masks' own, and the model + masks export as a hybrid checkpoint."""
    import sys
    from conftest import ROOT
    from test_learn import assert_valid_hybrid, read_mask_file
    run([sys.executable, ROOT / "bench" / "random_llama.py", tmp_path / "r", "--shape", "tiny", "--sparsity", "35",
         "--device", "cpu"])
    masks, meta = read_mask_file(tmp_path / "r" / "masks.safetensors")
    assert len(masks) == 14 and assert_valid_hybrid(masks, tile=128)
    kept = sum(int(m.sum()) for m in masks.values())
    total = sum(m.numel() for m in masks.values())
    assert abs(float(meta["sparsity"]) - (1 - kept / total)) < 1e-12 and 0.2 < 1 - kept / total < 0.5
    _, out, _ = run([patchlm_bin, "export", tmp_path / "r" / "model", tmp_path / "r" / "hybrid", "--masks",
                     tmp_path / "r" / "masks.safetensors", "--format", "hybrid"])
    assert "14 weights packed in 128x128 tiles" in out
    c, _, err = run([sys.executable, ROOT / "bench" / "random_llama.py", tmp_path / "r2", "--sparsity", "60"],
                    expect_ok=False)
    assert c != 0 and "--sparsity" in err
