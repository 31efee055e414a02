"""`patchlm learn`: every differentiable piece against a direct PyTorch implementation of PATCH.md's formulas (fp64,
fixed Gumbel noise), the priors' stated logits, valid hard masks, bit-identical resume after a kill, and mask
learning on a small trained model lowering its loss while reaching the target density."""
import json
import math
import os
import random
import signal
import subprocess
import time

import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import run

C24 = torch.tensor([[1, 1, 0, 0], [1, 0, 1, 0], [1, 0, 0, 1], [0, 1, 1, 0], [0, 1, 0, 1], [0, 0, 1, 1]],
                   dtype=torch.float64)


def read_mask_file(path):
    """Decoder of docs/masks.md, written from the spec: {weight name: bool [rows, cols]}."""
    from safetensors import safe_open
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
        out = {}
        for name in f.keys():
            rows, cols = map(int, meta[f"shape.{name}"].split(","))
            data = f.get_tensor(name).reshape(rows, -1).to(torch.int64)
            if meta[f"encoding.{name}"] == "bits":
                bits = (data.unsqueeze(-1) >> torch.arange(8)) & 1
                out[name] = bits.reshape(rows, -1)[:, :cols].bool()
            else:
                bits = ((data.unsqueeze(-1) >> torch.arange(8)) & 1).reshape(rows, -1)
                groups = cols // 4
                idx = sum(bits[:, 3 * torch.arange(groups) + k] << k for k in range(3))
                out[name] = C24[idx].reshape(rows, cols).bool()
    return out, meta


# ---------------------------------------------------------------------------------------------------------------
# The pieces, one layer, fp64.

def reference_mask(mode, t, tau, k24, kt, tr, tc):
    rows, cols = t["w"].shape
    if mode == "tile":
        m24 = t["fixed24"]
    else:
        m24 = (torch.softmax((t["l24"] * k24 + t["noise24"]) / tau, -1) @ C24).reshape(rows, cols)
    if mode == "maskllm":
        return m24
    two = torch.stack([torch.zeros_like(t["lt"]), t["lt"] * kt], -1)
    T = torch.softmax((two + t["noiset"]) / tau, -1)[..., 1]
    T = T.repeat_interleave(tr, 0).repeat_interleave(tc, 1)
    return T + (1 - T) * m24


def layer_inputs(seed=0, rows=16, cols=32, tr=8, tc=16):
    g = torch.Generator().manual_seed(seed)
    d = torch.float64
    keep24 = torch.zeros(rows * cols // 4, 4, dtype=torch.bool)
    keep24.scatter_(1, torch.rand(rows * cols // 4, 4, generator=g).topk(2, 1).indices, True)
    keepu = torch.rand(rows, cols, generator=g) < torch.linspace(0.2, 0.9, rows // tr * (cols // tc)).reshape(
        rows // tr, cols // tc).repeat_interleave(tr, 0).repeat_interleave(tc, 1)
    u = lambda *s: torch.rand(*s, generator=g, dtype=d).clamp(1e-12, 1 - 1e-12)
    return {"l24": torch.randn(rows * cols // 4, 6, generator=g, dtype=d) * 0.5,
            "lt": torch.randn(rows // tr, cols // tc, generator=g, dtype=d) * 0.5,
            "fixed24": keep24.reshape(rows, cols).to(d),
            "noise24": -torch.log(-torch.log(u(rows * cols // 4, 6))),
            "noiset": -torch.log(-torch.log(u(rows // tr, cols // tc, 2))),
            "w": torch.randn(rows, cols, generator=g, dtype=d), "x": torch.randn(5, cols, generator=g, dtype=d),
            "r": torch.randn(5, rows, generator=g, dtype=d),
            "keep24": keep24.reshape(rows, cols).to(torch.uint8), "keepu": keepu.to(torch.uint8)}


@pytest.mark.parametrize("mode", ["maskllm", "tile", "joint"])
@pytest.mark.parametrize("tau,k24,kt", [(2.0, 3.0, 2.0), (4.0, 100.0, 25.0), (0.5, 1.0, 1.5)])
def test_values_and_gradients_match_reference(mode, tau, k24, kt, tools_dir, tmp_path):
    t = layer_inputs()
    td, ls, lw, decay = 0.65, 7.0, 10.0, 0.7
    save_file({k: v.contiguous() for k, v in t.items()}, str(tmp_path / "in.safetensors"))
    run([tools_dir / "mask_grad", tmp_path / "in.safetensors", tmp_path / "out.safetensors", mode, tau, k24, kt, 8, 16,
         td, ls, lw, decay])
    got = load_file(str(tmp_path / "out.safetensors"))
    for variant in ("", "_ckpt", "_block"):
        l24 = t["l24"].clone().requires_grad_(True)
        lt = t["lt"].clone().requires_grad_(True)
        M = reference_mask(mode, {**t, "l24": l24, "lt": lt}, tau, k24, kt, 8, 16)
        w = t["w"]
        if variant == "_block":
            reg = ((M.mean() - td).abs() + (t["fixed24"].mean() - td).abs()) / 2
        else:
            reg = (M.mean() - td).abs()
        loss = ((t["x"] @ (w * M).t()) * t["r"]).sum() + ls * reg - lw * decay * (M * w).norm() / w.norm()
        loss.backward()
        assert torch.allclose(got["mask" + variant], M.detach(), rtol=0, atol=1e-12)
        assert torch.allclose(got["loss" + variant], loss.detach().reshape(1), rtol=1e-12, atol=1e-9)
        g24 = l24.grad if mode != "tile" else torch.zeros_like(l24)
        gt = lt.grad if mode != "maskllm" else torch.zeros_like(lt)
        assert torch.allclose(got["grad_l24" + variant], g24, rtol=0, atol=1e-6), variant
        assert torch.allclose(got["grad_lt" + variant], gt, rtol=0, atol=1e-6), variant
    assert torch.equal(got["grad_l24_ckpt"], got["grad_l24"]) and torch.equal(got["grad_lt_ckpt"], got["grad_lt"])

    # The fused mask op (one pass, its own counter-based noise, ΣM from the tiles alone) against the same formulas
    # with that noise.
    l24 = t["l24"].clone().requires_grad_(True)
    lt = t["lt"].clone().requires_grad_(True)
    M = reference_mask(mode, {**t, "l24": l24, "lt": lt, "noise24": got["counter_noise24"]}, tau, k24, kt, 8, 16)
    w = t["w"]
    loss = ((t["x"] @ (w * M).t()) * t["r"]).sum() + ls * (M.mean() - td).abs() - lw * decay * (M * w).norm() / w.norm()
    loss.backward()
    assert torch.allclose(got["masked_weight_fused"], (w * M).detach(), rtol=0, atol=1e-12)
    assert torch.allclose(got["loss_fused"], loss.detach().reshape(1), rtol=1e-12, atol=1e-9)
    g24 = l24.grad if mode != "tile" else torch.zeros_like(l24)
    gt = lt.grad if mode != "maskllm" else torch.zeros_like(lt)
    assert torch.allclose(got["grad_l24_fused"], g24, rtol=0, atol=1e-6)
    assert torch.allclose(got["grad_lt_fused"], gt, rtol=0, atol=1e-6)
    # ... and as the trainer runs it: inside the checkpointed block, the 2:4 gradient handed to the optimizer's sink.
    assert torch.allclose(got["loss_sink"], loss.detach().reshape(1), rtol=1e-12, atol=1e-9)
    assert torch.allclose(got["grad_l24_sink"], g24, rtol=0, atol=1e-6)
    assert torch.allclose(got["grad_lt_sink"], gt, rtol=0, atol=1e-6)


def splitmix64_gumbel(stream, i):
    """gumbel_counter.h's generator, from its comment: SplitMix64 jumped to pair ⌊i/2⌋, low/high 32 bits, 23 of them."""
    mask = (1 << 64) - 1
    z = (stream + (i // 2 + 1) * 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    z ^= z >> 31
    word = (z >> 32) if i % 2 else (z & 0xFFFFFFFF)
    u = ((word >> 9) + 0.5) / 2 ** 23
    return -math.log(-math.log(u))


def test_counter_noise_is_the_documented_gumbel_generator(tools_dir, tmp_path):
    t = layer_inputs(seed=2)
    save_file({k: v.contiguous() for k, v in t.items()}, str(tmp_path / "in.safetensors"))
    run([tools_dir / "mask_grad", tmp_path / "in.safetensors", tmp_path / "out.safetensors", "joint", 1, 1, 1, 8, 16,
         0.7, 0, 0, 0])
    noise = load_file(str(tmp_path / "out.safetensors"))["counter_noise24"].reshape(-1)
    for i in (0, 1, 2, 3, 17, 100, noise.numel() - 1):
        assert noise[i].item() == pytest.approx(splitmix64_gumbel(0x0123456789ABCDEF, i), abs=1e-12)
    # Standard Gumbel: mean γ ≈ 0.5772, variance π²/6 (768 draws: loose bounds).
    assert abs(noise.mean().item() - 0.5772) < 0.15 and abs(noise.var().item() - math.pi ** 2 / 6) < 0.4


def test_priors_reproduce_the_stated_logits(tools_dir, tmp_path):
    t = layer_inputs(seed=4)
    save_file({k: v.contiguous() for k, v in t.items()}, str(tmp_path / "in.safetensors"))
    td = 0.7
    run([tools_dir / "mask_grad", tmp_path / "in.safetensors", tmp_path / "out.safetensors", "joint", 1, 1, 1, 8, 16,
         td, 0, 0, 0])
    got = load_file(str(tmp_path / "out.safetensors"))
    P = t["keep24"].reshape(-1, 4).to(torch.float64)
    p = P @ C24.t() - 1  # overlap − 1
    assert set(p.unique().tolist()) == {-1.0, 0.0, 1.0}
    assert torch.equal(got["prior24"], p)
    assert torch.allclose(got["l24_prior"], p * t["l24"].std() * 3, rtol=0, atol=1e-12)
    # Candidate equal to the prior's pattern is the only one at +1: the prior's argmax is the prior.
    assert torch.equal(C24[got["l24_prior"].argmax(1)].reshape(t["w"].shape).bool(), t["keep24"].bool())
    score = t["keepu"].to(torch.float64).reshape(2, 8, 2, 16).mean((1, 3)).reshape(-1)
    n_dense = round(2 * 4 * (td - 0.5))
    expect = -torch.ones(4, dtype=torch.float64)
    expect[score.argsort(descending=True, stable=True)[:n_dense]] = 1
    assert torch.equal(got["tile_prior"].reshape(-1), expect)
    assert torch.allclose(got["lt_prior"], t["lt"] + expect.reshape(2, 2) * t["lt"].std() * 3, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------------------------------
# The whole command.

def learn(patchlm_bin, model, tmp_path, *extra, out="masks.safetensors", expect_ok=True):
    tile = [] if "--tile-size" in extra else ["--tile-size", "16x16"]
    args = [patchlm_bin, "--quiet", "learn", model, "--seq-len", "64", "--max-sequences", "64", "--calib-samples", "4",
            "--calib-seq-len", "64", "--out", tmp_path / out] + tile + list(extra)
    return run(args, expect_ok=expect_ok)


def metrics(path):
    return [json.loads(line) for line in open(path) if line.strip()]


def assert_valid_hybrid(masks, tile=16):
    for name, keep in masks.items():
        rows, cols = keep.shape
        tiles = keep.reshape(rows // tile, tile, cols // tile, tile).permute(0, 2, 1, 3).reshape(-1, tile, tile)
        dense = tiles.all(2).all(1)
        assert (tiles[~dense].reshape(-1, 4).sum(1) == 2).all(), name  # sparse tiles: exactly 2 of every 4
    return True


@pytest.fixture(scope="module")
def trained_tiny(tmp_path_factory, tiny_llama):
    """The tiny LLaMA after a short language-model training on the python-docs train split, so masks matter."""
    from tokenizers import Tokenizer
    model, path = tiny_llama
    model = type(model).from_pretrained(str(path)).train()
    tok = Tokenizer.from_file(str(path / "tokenizer.json"))
    import glob
    files = sorted(glob.glob("/usr/share/doc/python3.11/html/_sources/library/*.rst.txt"))[:40]
    ids = torch.tensor([i for f in files for i in tok.encode(open(f, errors="replace").read()).ids])
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(150):
        starts = torch.randint(0, len(ids) - 65, (16,), generator=g)
        batch = torch.stack([ids[s:s + 64] for s in starts])
        loss = model(batch, labels=batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    out = tmp_path_factory.mktemp("trained") / "model"
    model.eval().save_pretrained(out)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        (out / f).write_bytes((path / f).read_bytes())
    return out


def test_learning_lowers_loss_and_reaches_target(trained_tiny, tmp_path, patchlm_bin):
    learn(patchlm_bin, trained_tiny, tmp_path, "--mode", "joint", "--target-sparsity", "0.35", "--prior", "sparsegpt",
          "--steps", "40", "--batch", "4", "--micro-batch", "2", "--lr", "0.05", "--checkpoint-dir", tmp_path / "ck")
    m = metrics(tmp_path / "ck" / "metrics.jsonl")
    assert [r["step"] for r in m] == list(range(1, 41))
    first, last = sum(r["ce"] for r in m[:5]) / 5, sum(r["ce"] for r in m[-5:]) / 5
    assert last < first - 0.05, (first, last)
    masks, meta = read_mask_file(tmp_path / "masks.safetensors")
    assert len(masks) == 14 and assert_valid_hybrid(masks)
    kept = sum(k.sum().item() for k in masks.values())
    total = sum(k.numel() for k in masks.values())
    assert abs((1 - kept / total) - 0.35) <= 0.01, 1 - kept / total
    assert abs(float(meta["sparsity"]) - (1 - kept / total)) < 1e-9 and meta["method"] == "patch-joint"


def test_exact_target_and_other_modes(tiny_llama, tmp_path, patchlm_bin):
    _, path = tiny_llama
    common = ["--steps", "3", "--batch", "2", "--target-sparsity", "0.3", "--prior", "magnitude", "--tile-prior", "magnitude"]
    learn(patchlm_bin, path, tmp_path, "--mode", "joint", "--exact-target", *common, out="exact.safetensors")
    masks, meta = read_mask_file(tmp_path / "exact.safetensors")
    total = sum(k.numel() for k in masks.values())
    sparsity = 1 - sum(k.sum().item() for k in masks.values()) / total
    assert abs(sparsity - 0.3) <= 0.5 * 128 / total + 1e-12, sparsity  # within half a tile flip (16·16/2 weights)
    learn(patchlm_bin, path, tmp_path, "--mode", "tile", *common, out="tile.safetensors")
    maskllm_args = [a if a != "0.3" else "0.5" for a in common]  # 2:4 masks are 50 % sparse: maskllm's only target
    learn(patchlm_bin, path, tmp_path, "--mode", "maskllm", *maskllm_args, out="maskllm.safetensors")
    tile_masks, _ = read_mask_file(tmp_path / "tile.safetensors")
    maskllm, _ = read_mask_file(tmp_path / "maskllm.safetensors")
    run([patchlm_bin, "prune", path, "--method", "magnitude", "--out", tmp_path / "mag.safetensors"])
    mag, _ = read_mask_file(tmp_path / "mag.safetensors")
    for name in tile_masks:
        assert_valid_hybrid({name: tile_masks[name]})
        # PATCH^Tile keeps the prior's 2:4 patterns wherever a tile is sparse: the mask contains the prior.
        assert (tile_masks[name] | ~mag[name]).all(), name
        assert (maskllm[name].reshape(-1, 4).sum(1) == 2).all(), name


@pytest.mark.parametrize("state_dtype", ["fp32", "bf16"])
def test_resume_after_kill_is_bit_identical(state_dtype, tiny_llama, tmp_path, patchlm_bin):
    _, path = tiny_llama
    common = ["--mode", "joint", "--steps", "12", "--batch", "4", "--micro-batch", "2", "--target-sparsity", "0.35",
              "--prior", "magnitude", "--tile-prior", "magnitude", "--checkpoint-every", "1", "--lr", "0.05",
              "--state-dtype", state_dtype]
    learn(patchlm_bin, path, tmp_path, *common, "--checkpoint-dir", tmp_path / "a", out="a.safetensors")
    kill_after = random.Random(os.getpid()).randint(2, 9)
    args = [patchlm_bin, "--quiet", "learn", path, "--seq-len", "64", "--max-sequences", "64", "--tile-size", "16x16",
            "--out", tmp_path / "b.safetensors", "--checkpoint-dir", tmp_path / "b"] + common
    p = subprocess.Popen([str(a) for a in args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = tmp_path / "b" / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None:
        if log.exists() and len(metrics(log)) >= kill_after:
            p.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    p.wait()
    assert not (tmp_path / "b.safetensors").exists(), "the run finished before it could be killed"
    state = load_file(str(tmp_path / "b" / "learn_state.safetensors"))  # the last checkpoint is intact
    assert any(k.startswith("lt:") for k in state)
    # Sharded mask state (--shard-masks, here one rank) resumes an unsharded checkpoint and computes the same bits.
    run(args + ["--resume"] + (["--shard-masks"] if state_dtype == "bf16" else []))
    a, _ = read_mask_file(tmp_path / "a.safetensors")
    b, _ = read_mask_file(tmp_path / "b.safetensors")
    assert all(torch.equal(a[n], b[n]) for n in a)
    sa, sb = load_file(str(tmp_path / "a" / "learn_state.safetensors")), load_file(str(tmp_path / "b" / "learn_state.safetensors"))
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    ma, mb = metrics(tmp_path / "a" / "metrics.jsonl"), metrics(tmp_path / "b" / "metrics.jsonl")
    assert [(r["step"], r["loss"], r["ce"]) for r in ma] == [(r["step"], r["loss"], r["ce"]) for r in mb]
    want = torch.bfloat16 if state_dtype == "bf16" else torch.float32
    assert all(v.dtype == want for k, v in sa.items() if not k.startswith("lt:"))  # tile logits stay fp32 (tiny)
    # The state's dtype is part of the run: resuming it with the other one is refused, naming the setting.
    other = "fp32" if state_dtype == "bf16" else "bf16"
    c, _, err = learn(patchlm_bin, path, tmp_path, *common[:-1], other, "--checkpoint-dir", tmp_path / "b", "--resume",
                      out="c.safetensors", expect_ok=False)
    assert c == 1 and "state_dtype" in err, err


def test_bad_learn_input(tiny_llama, tmp_path, patchlm_bin):
    _, path = tiny_llama
    base = ["--steps", "1", "--batch", "1", "--prior", "magnitude"]
    run([patchlm_bin, "prune", path, "--method", "magnitude", "--out", tmp_path / "mag.safetensors"])
    cases = [(["--mode", "dense"], 2, "--mode"), (["--target-sparsity", "0.6"], 2, "--target-sparsity"),
             (["--tile-size", "48x48"], 1, "does not divide"), (["--resume"], 2, "--checkpoint-dir"),
             (["--batch", "3", "--micro-batch", "2"], 2, "--batch"), (["--tile-prior", "nosuch.safetensors"], 2, "--tile-prior"),
             (["--state-dtype", "fp16"], 2, "--state-dtype"), (["--checkpoint-blocks", "-2"], 2, "--checkpoint-blocks")]
    for extra, code, needle in cases:
        c, _, err = learn(patchlm_bin, path, tmp_path, *base, *extra, out="bad.safetensors", expect_ok=False)
        last = err.strip().splitlines()[-1]
        assert c == code and needle in last and err.count("patchlm: error") == 1, (extra, err)
        assert not (tmp_path / "bad.safetensors").exists()
    # A prior mask from a model of another shape.
    other = tmp_path / "other"
    from transformers import LlamaConfig, LlamaForCausalLM
    LlamaForCausalLM(LlamaConfig(vocab_size=32000, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2)).save_pretrained(other)
    run([patchlm_bin, "prune", other, "--method", "magnitude", "--out", tmp_path / "other.safetensors"])
    c, _, err = learn(patchlm_bin, path, tmp_path, "--steps", "1", "--batch", "1", "--tile-prior", "magnitude", "--prior",
                      tmp_path / "other.safetensors", out="bad.safetensors", expect_ok=False)
    assert c == 1 and "another model" in err, err
    # A checkpoint folder in use needs --resume.
    learn(patchlm_bin, path, tmp_path, *base, "--checkpoint-dir", tmp_path / "ck")
    c, _, err = learn(patchlm_bin, path, tmp_path, *base, "--checkpoint-dir", tmp_path / "ck", out="bad.safetensors",
                      expect_ok=False)
    assert c == 1 and "--resume" in err, err


def test_bench_learn(patchlm_bin, tmp_path):
    """`patchlm bench learn` on the CPU: a row per micro-batch with positive figures (the reference approach is a
    separate python run, skipped here: it takes minutes on a CPU); bad options are one-line usage errors."""
    out = tmp_path / "learn.json"
    run([patchlm_bin, "bench", "learn", "--shape", "smollm2-135m", "--device", "cpu", "--seq", "16", "--micro", "1",
         "--steps", "1", "--mode", "joint", "--no-baseline", "--json", out])
    rows = json.loads(out.read_text())
    assert len(rows) == 1 and rows[0]["mode"] == "joint" and rows[0]["tokens"] == 16
    assert rows[0]["tokens_per_s"] > 0 and rows[0]["peak_gib"] > 0 and "speedup" not in rows[0]
    assert rows[0]["state_dtype"] == "bf16" and rows[0]["checkpointed_blocks"] == 30
    # --profile: one more step under the profiler, its Chrome trace written.
    trace = tmp_path / "trace.json"
    _, stdout, _ = run([patchlm_bin, "bench", "learn", "--shape", "smollm2-135m", "--device", "cpu", "--seq", "16",
                        "--micro", "1", "--steps", "1", "--no-baseline", "--state-dtype", "fp32", "--checkpoint-blocks", "4",
                        "--profile", trace])
    assert "traceEvents" in json.loads(trace.read_text()) and str(trace) in stdout
    for extra, needle in [(["--shape", "llama-9b"], "--shape"), (["--mode", "dense"], "--mode"),
                          (["--seq", "1"], "--seq"), (["--micro", "0"], "--micro"), (["--steps", "0"], "--steps"),
                          (["--device", "tpu"], "--device"), (["--state-dtype", "int8"], "--state-dtype"),
                          (["--checkpoint-blocks", "-3"], "--checkpoint-blocks")]:
        p = subprocess.run([str(patchlm_bin), "bench", "learn", "--no-baseline", *extra], capture_output=True, text=True)
        assert p.returncode == 2 and needle in p.stderr and p.stderr.count("patchlm: error") == 1, (extra, p.stderr)


def test_launch_environment_is_checked(tiny_llama, tmp_path, patchlm_bin):
    """torchrun's variables: a rank outside the world, a missing MASTER_ADDR, data parallel on the CPU (the product's
    engine is NCCL) — each one line naming the variable, exit 2, nothing written."""
    _, path = tiny_llama
    args = [str(a) for a in [patchlm_bin, "learn", path, "--steps", "1", "--batch", "2", "--seq-len", "64",
                             "--max-sequences", "8", "--prior", "magnitude", "--tile-size", "16x16",
                             "--out", tmp_path / "m.safetensors"]]
    for env, needle in [({"WORLD_SIZE": "2", "RANK": "2", "MASTER_ADDR": "127.0.0.1"}, "RANK=2 is not below WORLD_SIZE=2"),
                        ({"WORLD_SIZE": "2", "RANK": "0"}, "MASTER_ADDR"),
                        ({"WORLD_SIZE": "2", "RANK": "1", "MASTER_ADDR": "127.0.0.1"}, "runs on CUDA"),
                        ({"WORLD_SIZE": "x"}, "WORLD_SIZE")]:
        p = subprocess.run(args, capture_output=True, text=True, env={**os.environ, **env})
        assert p.returncode == 2 and needle in p.stderr and p.stderr.count("patchlm: error") == 1, (env, p.stderr)
        assert not (tmp_path / "m.safetensors").exists()


def test_launch_runs_ranks_and_stops_them_when_one_fails(tiny_llama, tmp_path, patchlm_bin):
    """`patchlm launch --nproc N -- COMMAND`: N ranks with torchrun's variables; a failing rank's code comes back
    with one line naming it (here every rank refuses CPU data parallelism); launch's own input is checked."""
    _, path = tiny_llama
    c, out, _ = run([patchlm_bin, "launch", "--nproc", "2", "--", "info"])
    assert c == 0 and out.count("patchlm ") >= 2
    c, _, err = run([patchlm_bin, "launch", "--nproc", "2", "--", "learn", path, "--steps", "1", "--batch", "2",
                     "--out", tmp_path / "m.safetensors"], expect_ok=False)
    assert c == 2 and "runs on CUDA" in err and "patchlm launch: rank" in err and "exited with code 2" in err, err
    assert not (tmp_path / "m.safetensors").exists()
    for extra, needle in [(["--nproc", "0", "--", "info"], "--nproc"), (["--nproc", "2"], "give the command"),
                          (["--nproc", "2", "--master-port", "0", "--", "info"], "--master-port")]:
        c, _, err = run([patchlm_bin, "launch", *extra], expect_ok=False)
        assert c == 2 and needle in err and err.count("patchlm: error") == 1, (extra, err)
