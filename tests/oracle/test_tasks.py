"""Zero-shot multiple-choice scoring against lm-evaluation-harness itself: its task templates and preprocessing
(YAML + utils of the installed lm_eval package), its HF model wrapper's loglikelihood, on a tiny random LLaMA with the
real LLaMA-2 tokenizer and the hand-written task files in tests/eval/tasks (one per public format). Required:
per-example log-likelihoods within 1e-4, identical acc and acc_norm."""
import ast
import json
import pathlib

import numpy as np
import pytest
import yaml
from tokenizers import Tokenizer

from conftest import ROOT, run

TASK_DIR = ROOT / "tests" / "eval" / "tasks"


def lm_eval_root():
    import lm_eval
    return pathlib.Path(lm_eval.__file__).parent / "tasks"


def load_yaml(path):
    class Loader(yaml.SafeLoader):
        pass
    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)  # !function tags: not needed here
    return yaml.load(path.read_text(), Loader=Loader)


def render(template, doc):
    from lm_eval.utils import apply_template
    return apply_template(template, doc)


def as_list(rendered):
    return rendered if isinstance(rendered, list) else ast.literal_eval(rendered)


def read(name):
    path = TASK_DIR / f"{name}.jsonl"
    files = [path] if path.exists() else sorted((TASK_DIR / name).glob("*.jsonl"))
    return [json.loads(line) for f in files for line in f.read_text().splitlines() if line.strip()]


def reference_requests(name, doc):
    """(list of (context, continuation, choice_text), gold) the way lm-eval builds them."""
    root = lm_eval_root()
    if name in ("piqa", "arc_easy", "arc_challenge", "openbookqa"):
        cfg = load_yaml({"piqa": root / "piqa/piqa.yaml", "arc_easy": root / "arc/arc_easy.yaml",
                         "arc_challenge": root / "arc/arc_easy.yaml",
                         "openbookqa": root / "openbookqa/openbookqa.yaml"}[name])
        text_t = cfg["doc_to_text"]
        ctx = render(text_t, doc) if "{{" in text_t else doc[text_t]
        choices = as_list(render(cfg["doc_to_choice"], doc))
        target = cfg["doc_to_target"]
        gold = int(render(target, doc)) if "{{" in str(target) else int(doc[target])
        return [(ctx, " " + c, c) for c in choices], gold
    if name == "mmlu":
        cfg = load_yaml(root / "mmlu/default/_default_template_yaml")
        description = f"The following are multiple choice questions (with answers) about {doc['subject'].replace('_', ' ')}.\n\n"
        ctx = description + render(cfg["doc_to_text"], doc)
        return [(ctx, " " + c, c) for c in cfg["doc_to_choice"]], int(doc["answer"])
    if name == "hellaswag":
        import datasets
        from lm_eval.tasks.hellaswag import utils
        d = utils.process_docs(datasets.Dataset.from_list([doc]))[0]
        return [(d["query"], " " + c, c) for c in d["choices"]], d["gold"]
    if name == "winogrande":
        from lm_eval.tasks.winogrande import preprocess_winogrande as w
        target = w.doc_to_target(doc)
        return [(c, " " + target, target) for c in w.doc_to_choice(doc)], w.doc_to_text(doc)
    if name == "race":
        from lm_eval.tasks.race import preprocess_race as r
        doc = dict(doc)
        if not isinstance(doc["problems"], str):
            doc["problems"] = repr(doc["problems"])
        ctx = r.doc_to_text(doc)
        return [(ctx, " " + c, c) for c in r.doc_to_choice(doc)], r.doc_to_target(doc)
    raise KeyError(name)


def test_tasks_match_lm_eval(tiny_llama, tmp_path, patchlm_bin):
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM
    from transformers import PreTrainedTokenizerFast
    model, path = tiny_llama
    out = tmp_path / "tasks.json"
    run([patchlm_bin, "eval", path, "--tasks", "all", "--task-dir", TASK_DIR, "--out", out])
    ours = json.loads(out.read_text())["tasks"]
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_file(str(path / "tokenizer.json")),
                                  bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    lm = HFLM(pretrained=model, tokenizer=tok, batch_size=1, max_length=512)
    for name in ["piqa", "arc_easy", "arc_challenge", "winogrande", "openbookqa", "race", "hellaswag", "mmlu"]:
        docs = read(name)
        lls_all, golds = [], []
        for i, doc in enumerate(docs):
            reqs, gold = reference_requests(name, doc)
            insts = [Instance(request_type="loglikelihood", doc=doc, arguments=(c, k), idx=j) for j, (c, k, _) in enumerate(reqs)]
            lls = [ll for ll, _ in lm.loglikelihood(insts, disable_tqdm=True)]
            lls_all.append((lls, [len(t) for _, _, t in reqs]))
            golds.append(gold)
        got = ours[name]
        assert got["gold"] == golds, name
        for (want, _), have in zip(lls_all, got["logliks"]):
            assert np.allclose(have, want, atol=1e-4, rtol=0), f"{name}: {have} vs {want}"
        acc = np.mean([int(np.argmax(l)) == g for (l, _), g in zip(lls_all, golds)])
        acc_norm = np.mean([int(np.argmax(np.array(l) / np.array(n))) == g for (l, n), g in zip(lls_all, golds)])
        assert got["acc"] == pytest.approx(acc), name
        if got["acc_norm"] is not None:
            assert got["acc_norm"] == pytest.approx(acc_norm), name


def test_bad_task_input(tiny_llama, tmp_path, patchlm_bin):
    _, path = tiny_llama
    code, _, err = run([patchlm_bin, "eval", path, "--tasks", "squad", "--task-dir", TASK_DIR], expect_ok=False)
    assert code == 2 and "'squad'" in err, err
    bad = tmp_path / "tasks"
    bad.mkdir()
    (bad / "piqa.jsonl").write_text('{"goal": "g", "sol1": "a", "sol2": "b", "label": 0}\n{"goal": "g", "sol1": "a"}\n')
    code, _, err = run([patchlm_bin, "eval", path, "--tasks", "piqa", "--task-dir", bad], expect_ok=False)
    assert code == 1 and "line 2" in err and "missing field" in err, err
    code, _, err = run([patchlm_bin, "eval", path, "--tasks", "hellaswag", "--task-dir", bad], expect_ok=False)
    assert code == 1 and "hellaswag" in err, err
