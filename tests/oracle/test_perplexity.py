"""`patchlm eval` perplexity against a direct transformers computation of the same protocol: the corpus split joined
with blank lines, tokenized once, non-overlapping windows (or a sliding stride), mean NLL of every predicted token."""
import json
import math

import pytest
import torch
from safetensors.torch import load_file  # noqa: F401  (keeps the oracle env complete)
from tokenizers import Tokenizer

from conftest import ROOT, run

DOCS = "/usr/share/doc/python3.11/html/_sources"


def split_of(doc_id):
    """The corpus split rule of src/data/corpus.cpp: FNV-1a 64 of the id, 90/5/5."""
    h = 1469598103934665603
    for c in doc_id.encode():
        h ^= c
        h = (h * 1099511628211) % (1 << 64)
    b = h % 100
    return "train" if b < 90 else "validation" if b < 95 else "test"


def corpus_text(root, split):
    import pathlib
    root = pathlib.Path(root)
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name.endswith((".txt", ".md", ".rst", ".raw")))
    docs = [p.read_text(encoding="utf-8") for p in files if split_of(p.relative_to(root).as_posix()) == split]
    return "\n\n".join(d for d in docs if d)


def reference_ppl(model, ids, seq_len, stride=0, max_windows=0):
    ids = torch.tensor(ids)
    nll, count = 0.0, 0
    with torch.no_grad():
        if stride in (0, seq_len):
            windows = len(ids) // seq_len
            if max_windows:
                windows = min(windows, max_windows)
            for w in range(windows):
                x = ids[w * seq_len:(w + 1) * seq_len][None]
                logits = model(x).logits.float()
                nll += torch.nn.functional.cross_entropy(logits[0, :-1], x[0, 1:], reduction="sum").item()
                count += seq_len - 1
        else:
            prev_end = 0
            for begin in range(0, len(ids), stride):
                end = min(begin + seq_len, len(ids))
                trg = end - prev_end
                x = ids[begin:end][None]
                labels = x.clone()
                labels[:, :-trg] = -100
                logits = model(x).logits.float()
                lab = labels[0, 1:]
                nll += torch.nn.functional.cross_entropy(logits[0, :-1], lab, reduction="sum", ignore_index=-100).item()
                count += int((lab != -100).sum())
                prev_end = end
                if end == len(ids):
                    break
    return math.exp(nll / count), count


@pytest.mark.parametrize("stride", [0, 96])
def test_tiny_llama_ppl_matches_transformers(stride, tiny_llama, tmp_path, patchlm_bin):
    model, path = tiny_llama
    out = tmp_path / "r.json"
    run([patchlm_bin, "eval", path, "--seq-len", "128", "--stride", str(stride), "--max-windows", "12", "--out", out])
    got = json.loads(out.read_text())["perplexity"]
    ids = Tokenizer.from_file(str(path / "tokenizer.json")).encode(corpus_text(DOCS, "test")).ids
    assert got["tokens_total"] == len(ids)
    if stride == 0:
        want, count = reference_ppl(model, ids, 128, max_windows=12)
    else:  # 12 sliding windows end where a stream of 128 + 11 strides ends
        want, count = reference_ppl(model, ids[: 128 + 11 * stride], 128, stride)
    assert got["tokens_scored"] == count
    assert abs(got["ppl"] - want) / want < 1e-5, (got["ppl"], want)


@pytest.mark.parametrize("model_file", ["smollm2-135m-instruct-q4_1.gguf", "gemma-3-270m-q4_k_m.gguf"])
def test_real_model_ppl_equals_transformers_to_4_digits(model_file, tmp_path, patchlm_bin, models_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    out = tmp_path / "r.json"
    run([patchlm_bin, "eval", models_dir / model_file, "--seq-len", "256", "--max-windows", "6", "--out", out])
    got = json.loads(out.read_text())["perplexity"]
    tok = AutoTokenizer.from_pretrained(str(models_dir), gguf_file=model_file)
    hf = AutoModelForCausalLM.from_pretrained(str(models_dir), gguf_file=model_file, dtype=torch.float32,
                                              attn_implementation="eager").eval()
    ids = tok(corpus_text(DOCS, "test"))["input_ids"]
    want, count = reference_ppl(hf, ids, 256, max_windows=6)
    print(f"{model_file} python-docs test split, 6 x 256 tokens: patchlm {got['ppl']:.6f}, transformers {want:.6f}")
    assert got["tokens_scored"] == count
    assert f"{got['ppl']:.4g}" == f"{want:.4g}"


def test_bad_corpus_input(tmp_path, patchlm_bin, tiny_llama):
    _, path = tiny_llama
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run([patchlm_bin, "eval", path, "--corpus", empty], expect_ok=False)
    assert code == 1 and "no non-empty documents" in err, err
    short = tmp_path / "short.txt"
    short.write_text("just a few words")
    code, _, err = run([patchlm_bin, "eval", path, "--corpus", short, "--split", "all", "--seq-len", "64"], expect_ok=False)
    assert code == 1 and "fewer than one window" in err, err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"text": 3}\n')
    code, _, err = run([patchlm_bin, "eval", path, "--corpus", bad, "--split", "all"], expect_ok=False)
    assert code == 1 and "line 2" in err, err
    code, _, err = run([patchlm_bin, "eval", path, "--split", "dev"], expect_ok=False)
    assert code == 2 and "'dev'" in err, err
