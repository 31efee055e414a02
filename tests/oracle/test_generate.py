"""Generation on the engine through the CLI: greedy tokens equal the step-by-step reference (transformers), batched
rows equal the same prompts one by one, chat prompts equal transformers' apply_chat_template, and — where a GPU is
present — the CUDA path equals the CPU fp32 path on the packaged real models for 32 tokens."""
import json
import subprocess

import pytest
import torch

from conftest import run, shared_tokenizers

SMOLLM2 = "smollm2-135m-instruct-q4_1.gguf"
GEMMA = "gemma-3-270m-q4_k_m.gguf"
PROMPT = [1, 504, 3458, 28, 253, 1345, 314, 2, 7, 88]


def generate_ids(patchlm_bin, model, rows, *extra, new_tokens=16):
    ids = ";".join(",".join(map(str, r)) for r in rows)
    _, out, _ = run([patchlm_bin, "generate", model, "--ids", ids, "--max-new-tokens", new_tokens, "--no-stop", *extra])
    return [[int(x) for x in line.split(",")] for line in out.strip().splitlines()]


def test_greedy_equals_transformers_step_by_step(tiny_llama, patchlm_bin):
    model, path = tiny_llama
    got = generate_ids(patchlm_bin, path, [PROMPT[:6]], new_tokens=12)[0]
    ids = torch.tensor([PROMPT[:6]])
    with torch.no_grad():
        for _ in range(12):
            ids = torch.cat([ids, model(ids).logits[:, -1].argmax(-1, keepdim=True)], 1)
    assert got == ids[0, 6:].tolist()


def test_a_batch_equals_its_rows_one_by_one(models_dir, patchlm_bin):
    rows = [PROMPT, [2, 3, 5, 7, 11, 13, 17, 19, 23, 29], [100] * 10]
    together = generate_ids(patchlm_bin, models_dir / SMOLLM2, rows)
    for row, got in zip(rows, together):
        assert got == generate_ids(patchlm_bin, models_dir / SMOLLM2, [row])[0]


def render_ours(patchlm_bin, source, messages):
    p = subprocess.run([str(patchlm_bin), "chat", str(source), "--template-only"], input=json.dumps(messages),
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout


CONVERSATIONS = [
    [{"role": "user", "content": "Hello there!"}],
    [{"role": "system", "content": "You answer in one word."}, {"role": "user", "content": "Sky colour?"},
     {"role": "assistant", "content": "Blue."}, {"role": "user", "content": "  And grass?  "}],
]


def test_chat_prompt_of_smollm2_equals_apply_chat_template(models_dir, smollm2_tokenizer, patchlm_bin):
    from transformers import AutoTokenizer
    ref = AutoTokenizer.from_pretrained(str(smollm2_tokenizer))
    for messages in CONVERSATIONS:
        want = ref.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert render_ours(patchlm_bin, models_dir / SMOLLM2, messages) == want


@pytest.mark.parametrize("name", ["llama3", "qwen3", "gemma3"])
def test_chat_prompt_of_real_tokenizer_configs(name, tmp_path, patchlm_bin):
    import lzma

    from transformers import AutoTokenizer
    shared = shared_tokenizers() / name
    (tmp_path / "tokenizer.json").write_bytes(lzma.decompress((shared / "tokenizer.json.xz").read_bytes()))
    (tmp_path / "tokenizer_config.json").write_bytes((shared / "tokenizer_config.json").read_bytes())
    ref = AutoTokenizer.from_pretrained(str(tmp_path))
    for messages in CONVERSATIONS:
        want = ref.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert render_ours(patchlm_bin, tmp_path, messages) == want, name


def test_chat_talks_with_scripted_stdin(models_dir, patchlm_bin):
    p = subprocess.run([str(patchlm_bin), "chat", str(models_dir / SMOLLM2), "--max-new-tokens", "12"],
                       input="What is the capital of France?\n/reset\nSay hi.\n", capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    replies = p.stdout.strip().splitlines()
    assert len(replies) >= 2 and "Paris" in p.stdout, p.stdout


def test_bad_chat_input(models_dir, tmp_path, patchlm_bin):
    p = subprocess.run([str(patchlm_bin), "chat", str(models_dir / GEMMA), "--template-only"], input="[]",
                       capture_output=True, text=True)
    assert p.returncode == 1 and "no chat template" in p.stderr, p.stderr
    p = subprocess.run([str(patchlm_bin), "chat", str(models_dir / SMOLLM2), "--template-only"], input="{",
                       capture_output=True, text=True)
    assert p.returncode == 1 and "stdin" in p.stderr, p.stderr


def cuda_available(patchlm_bin):
    _, out, _ = run([patchlm_bin, "info", "--json"])
    return bool(json.loads(out).get("cuda_devices"))


@pytest.mark.parametrize("model", [SMOLLM2, GEMMA])
def test_cuda_greedy_equals_cpu_fp32(model, models_dir, tmp_path, patchlm_bin):
    """32 greedy tokens of a text prompt: CUDA bf16 equals CPU fp32, or they part at a logit near-tie of the fp32
    model (the two candidates within 0.5 of each other), which the test documents."""
    if not cuda_available(patchlm_bin):
        pytest.skip("skipped: no CUDA device")
    if not (models_dir / model).exists():
        pytest.skip(f"skipped: {model} is not here")
    _, out, _ = run([patchlm_bin, "tokenize", models_dir / model, "--text", "The history of the Python programming language"])
    prompt = [int(x) for x in out.strip().splitlines()[-1].split(":")[1].split()]
    cpu = generate_ids(patchlm_bin, models_dir / model, [prompt], new_tokens=32)[0]
    gpu = generate_ids(patchlm_bin, models_dir / model, [prompt], "--device", "cuda", "--dtype", "bf16", new_tokens=32)[0]
    same = next((i for i, (a, b) in enumerate(zip(cpu, gpu)) if a != b), len(cpu))
    if same == len(cpu):
        print(f"{model}: CUDA bf16 equals CPU fp32 for all 32 tokens")
        return
    logits_file = tmp_path / "logits.safetensors"
    run([patchlm_bin, "forward", models_dir / model, "--ids", ",".join(map(str, prompt + cpu[:same])), "--out", logits_file])
    from safetensors.numpy import load_file
    last = load_file(str(logits_file))["logits"][0, -1]
    gap = float(last[cpu[same]] - last[gpu[same]])
    print(f"{model}: CUDA bf16 and CPU fp32 agree on {same} of 32 tokens, then part at a gap of {gap:.3f} in the fp32 logits")
    assert same >= 8 and 0 <= gap < 0.5, (cpu, gpu, gap)
