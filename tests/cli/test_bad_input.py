"""Hardening: one case per cause of a bad outcome found by the hostile probe (docs/reliability.md). Every case ends in
one line `patchlm: error: ...` (never "internal error"), exit 2 for a bad flag or path and 1 for bad data, nothing
destroyed and nothing half-written left behind."""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time

import pytest
from safetensors.numpy import load_file, save_file

from conftest import run

SMOLLM2 = "smollm2-135m-instruct-q4_1.gguf"


def fails(cmd, code, *needles, timeout=120):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    assert p.returncode == code, (cmd, p.returncode, p.stderr)
    last = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else ""
    assert last.startswith("patchlm: error: ") and p.stderr.count("patchlm: error:") == 1, p.stderr  # one line, last
    assert "internal error" not in p.stderr, p.stderr
    for n in needles:
        assert n in p.stderr, (n, p.stderr)
    return p.stderr


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def no_temporaries(folder):
    return not [p for p in folder.rglob("*") if ".tmp-" in p.name]


@pytest.fixture
def model_copy(tiny_llama, tmp_path):
    _, path = tiny_llama
    m = tmp_path / "m"
    shutil.copytree(path, m)
    return m


# ---- data loss and wrong results -----------------------------------------------------------------------------------

def test_an_output_that_is_an_input_is_refused(models_dir, tmp_path, patchlm_bin):
    m = tmp_path / "m.gguf"
    shutil.copy(models_dir / SMOLLM2, m)
    before = digest(m)
    fails([patchlm_bin, "forward", m, "--ids", "1,2", "--out", m], 2, "is the input")
    fails([patchlm_bin, "prune", m, "--method", "magnitude", "--out", m], 2, "is the input")
    os.link(m, tmp_path / "hard.gguf")  # a hard link is the same file
    fails([patchlm_bin, "forward", m, "--ids", "1,2", "--out", tmp_path / "hard.gguf"], 2, "is the input")
    assert digest(m) == before


def test_a_file_inside_the_model_directory_is_refused(model_copy, patchlm_bin):
    fails([patchlm_bin, "prune", model_copy, "--method", "magnitude", "--out", model_copy / "model.safetensors"], 2,
          "is a file of the input")


def test_outputs_are_checked_before_any_work(model_copy, tmp_path, patchlm_bin):
    t0 = time.time()
    fails([patchlm_bin, "learn", model_copy, "--steps", "50", "--out", tmp_path / "missing" / "m.safetensors"], 2, "does not exist")
    fails([patchlm_bin, "learn", model_copy, "--steps", "50", "--out", tmp_path / "m.safetensors", "--metrics",
           tmp_path / "missing" / "metrics.jsonl"], 2, "--metrics")
    fails([patchlm_bin, "eval", model_copy, "--out", tmp_path / "missing" / "e.json"], 2, "--out")
    (tmp_path / "taken").mkdir()
    fails([patchlm_bin, "prune", model_copy, "--method", "magnitude", "--out", tmp_path / "p.safetensors",
           "--save-pruned", tmp_path / "taken"], 1, "already exists")
    assert not (tmp_path / "p.safetensors").exists(), "--out must not be left behind"
    (tmp_path / "afile").write_text("x")
    fails([patchlm_bin, "learn", model_copy, "--out", tmp_path / "m.safetensors", "--checkpoint-dir", tmp_path / "afile"], 2,
          "not a directory")
    assert time.time() - t0 < 60


def test_learning_numbers_are_checked_as_flags_and_non_finite_training_stops(model_copy, tmp_path, patchlm_bin):
    base = [patchlm_bin, "learn", model_copy, "--steps", "2", "--batch", "1", "--seq-len", "32", "--max-sequences", "4",
            "--prior", "magnitude", "--tile-prior", "magnitude", "--tile-size", "16", "--out", tmp_path / "m.safetensors"]
    fails(base + ["--tau-start", "0"], 2, "--tau-start")
    fails(base + ["--beta2", "1.5"], 2, "--beta2")
    fails(base + ["--lr", "nan"], 2, "--lr")
    fails(base + ["--mode", "maskllm", "--target-sparsity", "0.35"], 2, "maskllm")
    # A weight that is infinite makes the loss NaN at once: the run stops at step 1, before any update.
    weights = load_file(str(model_copy / "model.safetensors"))
    weights["model.layers.0.mlp.up_proj.weight"][0, 0] = float("inf")
    save_file(weights, str(model_copy / "model.safetensors"), metadata={"format": "pt"})
    fails(base + ["--checkpoint-dir", tmp_path / "ck"], 1, "not finite at step 1")
    assert not (tmp_path / "m.safetensors").exists()
    # PATCH^Tile checks its loss at the step's end (no update happens in its backward pass): the same stop.
    fails(base + ["--mode", "tile", "--checkpoint-dir", tmp_path / "ck_tile"], 1, "not finite at step 1")
    assert not (tmp_path / "m.safetensors").exists()


def test_config_is_checked_against_the_weights(model_copy, tmp_path, patchlm_bin):
    cfg_path = model_copy / "config.json"
    good = json.loads(cfg_path.read_text())
    for field, value, needle in [("num_hidden_layers", 1, "does not account for"), ("rope_theta", -1, "rope_theta"),
                                 ("max_position_embeddings", 0, "max_position_embeddings"),
                                 ("eos_token_id", 1000000, "eos_token_id"), ("num_hidden_layers", -1, "num_hidden_layers")]:
        cfg = dict(good, **{field: value})
        if field == "rope_theta" and "rope_parameters" in cfg:  # transformers 5 keeps it there too
            cfg["rope_parameters"] = dict(cfg["rope_parameters"], rope_theta=value)
        cfg_path.write_text(json.dumps(cfg))
        fails([patchlm_bin, "convert", model_copy, tmp_path / f"out-{field}"], 1, needle)
    cfg_path.write_text(json.dumps(good))


def test_convert_validates_like_the_loader(model_copy, tmp_path, patchlm_bin):
    weights = load_file(str(model_copy / "model.safetensors"))
    name = "model.layers.0.mlp.up_proj.weight"
    weights[name] = weights[name].T.copy()
    save_file(weights, str(model_copy / "model.safetensors"), metadata={"format": "pt"})
    fails([patchlm_bin, "convert", model_copy, tmp_path / "out"], 1, name)
    assert not (tmp_path / "out").exists()


def test_added_token_ids_are_checked_against_the_vocabulary(model_copy, patchlm_bin):
    tok = json.loads((model_copy / "tokenizer.json").read_text())
    tok["added_tokens"].append({"id": 1000000000, "content": "<huge>", "special": True, "normalized": False,
                                "single_word": False, "lstrip": False, "rstrip": False})
    (model_copy / "tokenizer.json").write_text(json.dumps(tok))
    fails([patchlm_bin, "tokenize", model_copy, "--text", "x"], 1, "<huge>", timeout=30)


def test_a_hybrid_tile_that_divides_nothing_is_refused(model_copy, tmp_path, patchlm_bin):
    run([patchlm_bin, "prune", model_copy, "--method", "magnitude", "--out", tmp_path / "m.safetensors"])
    fails([patchlm_bin, "export", model_copy, tmp_path / "h", "--masks", tmp_path / "m.safetensors", "--format", "hybrid"],
          2, "divides none")
    assert not (tmp_path / "h").exists()


# ---- robustness and resources --------------------------------------------------------------------------------------

def test_sigint_removes_the_unfinished_output_and_exits_130(models_dir, tmp_path, patchlm_bin):
    for sig, code in [(signal.SIGINT, 130), (signal.SIGTERM, 143)]:
        out = tmp_path / f"hf-{code}"
        p = subprocess.Popen([str(patchlm_bin), "convert", str(models_dir / "gemma-3-270m-q4_k_m.gguf"), str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 120
        while no_temporaries(tmp_path) and time.time() < deadline and p.poll() is None:  # interrupt while writing
            time.sleep(0.05)
        p.send_signal(sig)
        _, err = p.communicate(timeout=60)
        assert p.returncode == code and "interrupted" in err and err.count("\n") == 1, (p.returncode, err)
        assert not out.exists() and no_temporaries(tmp_path)


def test_a_stale_temporary_of_a_killed_run_is_removed_by_the_next_writer(model_copy, tmp_path, patchlm_bin):
    stale = tmp_path / ".m.safetensors.tmp-999999-abcdef"  # no process 999999: a run killed outright left it
    stale.write_bytes(b"x" * 1000)
    run([patchlm_bin, "prune", model_copy, "--method", "magnitude", "--out", tmp_path / "m.safetensors"])
    assert not stale.exists() and (tmp_path / "m.safetensors").exists()


def test_the_file_size_limit_is_a_clear_error(models_dir, tmp_path, patchlm_bin):
    out = tmp_path / "hf"
    p = subprocess.run(["bash", "-c", f"ulimit -f 20000; exec {patchlm_bin} convert {models_dir / SMOLLM2} {out}"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 1 and "file-size limit" in p.stderr, (p.returncode, p.stderr)
    assert not out.exists() and no_temporaries(tmp_path)


def test_a_fifo_input_is_refused_not_waited_on(tmp_path, patchlm_bin):
    fifo = tmp_path / "f.gguf"
    os.mkfifo(fifo)
    fails([patchlm_bin, "inspect", fifo], 1, "not a regular file", timeout=30)
    fails([patchlm_bin, "tokenize", tmp_path, "--jsonl", tmp_path], 2, "is a directory")


def test_thread_counts_and_sizes_are_bounded(model_copy, tmp_path, patchlm_bin):
    fails([patchlm_bin, "--threads", "100000", "info"], 2, "--threads")
    fails([patchlm_bin, "convert", model_copy, tmp_path / "o", "--max-shard-size", "99999999999999999999GB"], 2, "too large")


def test_metrics_resume_drops_a_torn_line_and_keeps_one_line_per_step(model_copy, tmp_path, patchlm_bin):
    ck = tmp_path / "ck"
    base = [patchlm_bin, "learn", model_copy, "--batch", "1", "--seq-len", "32", "--max-sequences", "4", "--prior",
            "magnitude", "--tile-prior", "magnitude", "--tile-size", "16", "--checkpoint-dir", ck, "--checkpoint-every", "1",
            "--out", tmp_path / "m.safetensors"]
    run(base + ["--steps", "2"])
    with open(ck / "metrics.jsonl", "a") as f:
        f.write('{"step": 3, "loss": 1.')  # a kill while appending
    fails(base + ["--steps", "3", "--resume"], 1, "steps")  # --steps differs: refused by the identity check
    fails(base + ["--steps", "2", "--resume", "--lr", "0.5"], 1, "lr")
    run(base + ["--steps", "2", "--resume"])
    steps = [json.loads(line)["step"] for line in (ck / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2], steps


def test_corrupted_checkpoint_metadata_is_named(model_copy, tmp_path, patchlm_bin):
    ck = tmp_path / "ck"
    base = [patchlm_bin, "learn", model_copy, "--batch", "1", "--seq-len", "32", "--max-sequences", "4", "--prior",
            "magnitude", "--tile-prior", "magnitude", "--tile-size", "16", "--checkpoint-dir", ck, "--steps", "1",
            "--out", tmp_path / "m.safetensors"]
    run(base)
    state = ck / "learn_state.safetensors"
    raw = bytearray(state.read_bytes())
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    header["__metadata__"]["adam_step"] = "abc"
    text = json.dumps(header, separators=(",", ":")).encode()
    state.write_bytes(len(text).to_bytes(8, "little") + text + bytes(raw[8 + n:]))
    fails(base + ["--resume"], 1, "adam_step", "not a count")


def test_small_usage_errors(models_dir, model_copy, tmp_path, patchlm_bin):
    smol = models_dir / SMOLLM2
    gen = [patchlm_bin, "generate", model_copy, "--ids", "1,2"]
    for extra, needle in [(["--temperature", "-1"], "--temperature"), (["--temperature", "inf"], "--temperature"),
                          (["--top-k", "-1"], "--top-k"), (["--dtype", "f16"], "f16"),
                          (["--max-new-tokens", "-1"], "--max-new-tokens")]:
        fails(gen + extra, 2, needle)
    fails([patchlm_bin, "generate", model_copy, "--prompt", ""], 2, "--prompt")
    serve = [patchlm_bin, "serve", smol, "--max-context", "256", "--graph-prefill-tokens"]
    for value in ["-1", "257"]:
        fails(serve + [value], 2, f"--graph-prefill-tokens: {value} is outside 0..256 (--max-context)")
    fails([patchlm_bin, "eval", model_copy, "--seq-len", "0"], 2, "--seq-len")
    fails([patchlm_bin, "eval", model_copy, "--tasks", "", "--task-dir", tmp_path], 2, "--tasks")
    fails([patchlm_bin, "prune", model_copy, "--method", "magnitude", "--pattern", "2:4", "--sparsity", "0.3", "--out",
           tmp_path / "p.safetensors"], 2, "--sparsity", "contradicts")
    fails([patchlm_bin, "generate", smol, "--tokenizer", models_dir / "gemma-3-270m-q4_k_m.gguf", "--prompt", "hi"], 1,
          "another model")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    run([patchlm_bin, "prune", model_copy, "--method", "magnitude", "--out", run_dir / "m.masks.safetensors"])
    fails([patchlm_bin, "report", run_dir, "-o", tmp_path / "r.html", "--tile-size", "128x128"], 2, "--tile-size")
