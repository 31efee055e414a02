"""Our tokenizer against the reference `tokenizers` library: identical ids on real English text (the
reStructuredText sources of Debian's python3.11-doc) and on hard cases, for the four real tokenizer.json files,
identical decoding, and added-token flags on tokenizers built here."""
import json
import lzma
import pathlib
import subprocess

import pytest
from tokenizers import AddedToken, Tokenizer

from conftest import run, shared_tokenizers

TOKENIZERS = ["llama2", "llama3", "qwen3", "gemma3"]
DOCS = pathlib.Path("/usr/share/doc/python3.11/html/_sources")

HARD_CASES = [
    "", " ", "  ", "\t", "\n", "\n\n\n", " \t \n  \r\n", "a", "Hello", " Hello", "Hello ", "  leading and trailing  ",
    "multiple   spaces    here", "tabs\tand\ttabs\t\t", "line1\nline2\r\nline3\rline4", "trailing newline\n",
    "digits 1 12 123 1234 12345 3.14159 1,000,000 -42 0x1F", "٣٤٥ ௧௨௩ 一二三",
    "日本語のテキストです。中文文本。한국어 텍스트.", "Ελληνικά και Русский текст", "emoji 🙂🙃 🎉🎉 👍🏽",
    "ZWJ family 👨‍👩‍👧‍👦 and flag 🏳️‍🌈", "combining e\u0301 vs \u00e9, a\u0308\u0304, n\u0303",
    "Hangul jamo \u1100\u1161\u11a8 vs \uac01", "ligature \ufb01 and width \uff21\uff22",
    "special <s> </s> <unk> <|begin_of_text|> <|endoftext|> <bos> <eos> <start_of_turn> inside text",
    "<s><s></s>", "<|im_start|>user\nhi<|im_end|>", "it's they're we've I'm you'll he'd IT'S",
    "code: def f(x):\n    return x**2  # comment\n", "url https://example.com/a?b=c&d=e#f",
    "punctuation!!! ??? ... --- ___ ((()))", "\u00a0non-breaking\u2009thin\u3000ideographic spaces",
    "private use \ue000 and rare \U00010348 \U0001f9ff", "\x00 control \x01\x07 chars \x7f",
    "▁ already ▁▁ metaspace", "  \n  mixed whitespace \n\n  ", "a" * 300, "word " * 200,
    # Bytes whose byte tokens SmolLM2's byte-level vocabulary lacks (0x04, 0x06, 0x13, 0x14, 0x16, 0x1d; 0xf1 and
    # 0xf2 lead the UTF-8 of planes 4-11): the reference drops such pieces and goes on.
    "a\x06b", "ctrl \x04\x06\x13\x14\x16\x1d end", "\x1d", "planes \U00050000 \U00090001 x",
]


@pytest.fixture(scope="module")
def tokenizer_dirs(tmp_path_factory):
    shared = shared_tokenizers()
    root = tmp_path_factory.mktemp("tokenizers")
    for name in TOKENIZERS:
        (root / name).mkdir()
        (root / name / "tokenizer.json").write_bytes(lzma.decompress((shared / name / "tokenizer.json.xz").read_bytes()))
        (root / name / "tokenizer_config.json").write_bytes((shared / name / "tokenizer_config.json").read_bytes())
    return root


def python_docs(limit_bytes):
    texts, total = [], 0
    for path in sorted(DOCS.rglob("*.rst.txt")):
        text = path.read_text(encoding="utf-8")
        texts.append(text)
        total += len(text)
        if total >= limit_bytes:
            break
    return texts


def ours(patchlm_bin, tokenizer, texts, tmp_path, special=True, skip_special=False):
    inp = tmp_path / "texts.jsonl"
    inp.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    cmd = [patchlm_bin, "tokenize", tokenizer, "--jsonl", inp] + ([] if special else ["--no-special"])
    cmd += ["--skip-special"] if skip_special else []
    _, out, _ = run(cmd)
    return [json.loads(line) for line in out.splitlines()]


def compare(patchlm_bin, tok_path, texts, tmp_path, special=True):
    ref = Tokenizer.from_file(str(tok_path / "tokenizer.json"))
    got = ours(patchlm_bin, tok_path, texts, tmp_path, special)
    assert len(got) == len(texts)
    for text, g in zip(texts, got):
        want = ref.encode(text, add_special_tokens=special).ids
        assert g["ids"] == want, f"{tok_path.name}: {text[:80]!r}: ours {g['ids'][:40]} ref {want[:40]}"
        assert g["decoded"] == ref.decode(want, skip_special_tokens=False), f"decode of {text[:60]!r}"


@pytest.mark.parametrize("name", TOKENIZERS)
def test_hard_cases(name, tokenizer_dirs, tmp_path, patchlm_bin):
    compare(patchlm_bin, tokenizer_dirs / name, HARD_CASES, tmp_path, special=True)
    compare(patchlm_bin, tokenizer_dirs / name, HARD_CASES, tmp_path, special=False)


@pytest.mark.parametrize("name", TOKENIZERS)
def test_python_docs(name, tokenizer_dirs, tmp_path, patchlm_bin):
    texts = python_docs(3_000_000)
    lines = [line for text in texts[:40] for line in text.splitlines()]  # thousands of single lines too
    assert len(lines) > 2000
    compare(patchlm_bin, tokenizer_dirs / name, texts + lines, tmp_path)


@pytest.mark.parametrize("name", TOKENIZERS)
def test_round_trip_where_reference_round_trips(name, tokenizer_dirs, tmp_path, patchlm_bin):
    ref = Tokenizer.from_file(str(tokenizer_dirs / name / "tokenizer.json"))
    texts = HARD_CASES + python_docs(200_000)
    got = ours(patchlm_bin, tokenizer_dirs / name, texts, tmp_path, special=False)
    for text, g in zip(texts, got):
        if ref.decode(ref.encode(text, add_special_tokens=False).ids) == text:
            assert g["decoded"] == text


@pytest.mark.parametrize("name", TOKENIZERS)
def test_skip_special_tokens_when_decoding(name, tokenizer_dirs, tmp_path, patchlm_bin):
    ref = Tokenizer.from_file(str(tokenizer_dirs / name / "tokenizer.json"))
    texts = ["<s>hi</s> <|endoftext|> <bos>x<eos>", "plain"]
    got = ours(patchlm_bin, tokenizer_dirs / name, texts, tmp_path, skip_special=True)
    for text, g in zip(texts, got):
        assert g["decoded"] == ref.decode(ref.encode(text).ids, skip_special_tokens=True)


@pytest.mark.parametrize("name", TOKENIZERS)
def test_invalid_utf8_is_replaced_not_a_crash(name, tokenizer_dirs, patchlm_bin):
    """Documented behaviour: invalid sequences become U+FFFD, as bytes.decode(errors='replace') does."""
    ref = Tokenizer.from_file(str(tokenizer_dirs / name / "tokenizer.json"))
    for raw in [b"ok \xff\xfe bad", b"cut \xe6\x97", b"\xc0\xaf overlong", b"\xed\xa0\x80 surrogate", b"\xf4\x90\x80\x80"]:
        p = subprocess.run([patchlm_bin, "tokenize", str(tokenizer_dirs / name), "--text", raw], capture_output=True)
        assert p.returncode == 0, p.stderr
        ids = [int(x) for x in p.stdout.decode().strip().splitlines()[-1].split(":")[1].split()]
        assert ids == ref.encode(raw.decode("utf-8", errors="replace")).ids, raw


def test_added_token_flags(tmp_path, tokenizer_dirs, patchlm_bin):
    """lstrip / rstrip / single_word / normalized on a tokenizer extended here (the real files use none)."""
    for base in ["llama3", "llama2"]:
        tok = Tokenizer.from_file(str(tokenizer_dirs / base / "tokenizer.json"))
        tok.add_tokens([AddedToken("<mask>", lstrip=True, rstrip=True, normalized=False),
                        AddedToken("cat", single_word=True, normalized=False),
                        AddedToken("ring", normalized=True),
                        AddedToken("<sep>", special=True, normalized=False, rstrip=True)])
        d = tmp_path / base
        d.mkdir()
        tok.save(str(d / "tokenizer.json"))
        texts = ["a <mask> b", "a   <mask>   b", "<mask><mask>", "cat concat cats cat.", "_cat cat_ (cat)",
                 "a ring string rings", "x <sep>   y", "über<mask>cat ünïcode cat"]
        compare(patchlm_bin, d, texts, tmp_path)


def test_bad_tokenizer_files(tmp_path, patchlm_bin):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "tokenizer.json").write_text('{"model": {"type": "WordPiece", "vocab": {}}}')
    code, _, err = run([patchlm_bin, "tokenize", bad, "--text", "x"], expect_ok=False)
    assert code == 1 and "WordPiece" in err and err.count("\n") == 1, err
    (bad / "tokenizer.json").write_text('{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}')
    code, _, err = run([patchlm_bin, "tokenize", bad, "--text", "x"], expect_ok=False)
    assert code == 1 and "merge 0" in err, err
    (bad / "tokenizer.json").write_text('{"model": ')
    code, _, err = run([patchlm_bin, "tokenize", bad, "--text", "x"], expect_ok=False)
    assert code == 1 and "invalid JSON" in err, err


@pytest.fixture(scope="module")
def gguf_references(models_dir):
    from transformers import AutoTokenizer
    refs = {}
    for model in ["smollm2-135m-instruct-q4_1.gguf", "gemma-3-270m-q4_k_m.gguf"]:
        refs[model] = AutoTokenizer.from_pretrained(str(models_dir), gguf_file=model).backend_tokenizer
    return refs


@pytest.mark.parametrize("model", ["smollm2-135m-instruct-q4_1.gguf", "gemma-3-270m-q4_k_m.gguf"])
def test_gguf_vocabularies_match_transformers(model, gguf_references, models_dir, tmp_path, patchlm_bin):
    """The tokenizer embedded in the packaged GGUF files, against the one transformers builds from it."""
    ref = gguf_references[model]
    texts = HARD_CASES + ["<|im_start|>system\nYou are helpful.<|im_end|>", "<start_of_turn>user\nhi<end_of_turn>"]
    texts += python_docs(400_000)
    for special in [True, False]:
        got = ours(patchlm_bin, models_dir / model, texts, tmp_path, special)
        for text, g in zip(texts, got):
            want = ref.encode(text, add_special_tokens=special).ids
            assert g["ids"] == want, f"{model}: {text[:80]!r}: ours {g['ids'][:30]} ref {want[:30]}"
            assert g["decoded"] == ref.decode(want, skip_special_tokens=False), f"decode of {text[:60]!r}"


@pytest.mark.parametrize("model", ["smollm2-135m-instruct-q4_1.gguf", "gemma-3-270m-q4_k_m.gguf"])
def test_gguf_tokenizer_files_load_everywhere_with_identical_ids(model, models_dir, tools_dir, tmp_path, patchlm_bin):
    """The tokenizer.json + tokenizer_config.json patchlm writes from a GGUF vocabulary (what `convert` writes):
    `tokenizers` and transformers' AutoTokenizer load them and give the ids patchlm gives for the GGUF itself."""
    from gguf import GGUFReader
    from transformers import AutoTokenizer
    out = tmp_path / "tok"
    run([tools_dir / "gguf_tokenizer", models_dir / model, out])
    texts = HARD_CASES + ["<|im_start|>system\nYou are helpful.<|im_end|>", "<start_of_turn>user\nhi<end_of_turn>"]
    texts += python_docs(400_000)
    files = Tokenizer.from_file(str(out / "tokenizer.json"))
    auto = AutoTokenizer.from_pretrained(str(out))
    config = json.loads((out / "tokenizer_config.json").read_text())
    assert config["eos_token"], config.keys()
    assert ("chat_template" in config) == ("tokenizer.chat_template" in GGUFReader(str(models_dir / model)).fields)
    for special in [True, False]:
        got = ours(patchlm_bin, models_dir / model, texts, tmp_path, special)
        for text, g in zip(texts, got):
            assert files.encode(text, add_special_tokens=special).ids == g["ids"], f"tokenizers, {text[:60]!r}"
            assert auto(text, add_special_tokens=special)["input_ids"] == g["ids"], f"AutoTokenizer, {text[:60]!r}"


def test_missing_byte_tokens_are_dropped_like_the_reference(models_dir, patchlm_bin):
    """`patchlm tokenize MODEL.gguf --text $'a\\x06b'` goes on where a byte token is missing."""
    _, out, _ = run([patchlm_bin, "tokenize", models_dir / "smollm2-135m-instruct-q4_1.gguf", "--text", "a\x06b"])
    assert len(out.strip().splitlines()[-1].split(":")[1].split()) == 2, out  # "a" and "b"; the 0x06 piece dropped
