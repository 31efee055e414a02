"""GGUF: dequantisation bit for bit against the `gguf` package, real packaged models against transformers' own
GGUF loading, and `patchlm convert` output that transformers loads."""
import numpy as np
import pytest
import torch
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader, GGUFWriter
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize, quantize
from safetensors.numpy import load_file

from conftest import run

REAL_MODELS = ["smollm2-135m-instruct-q4_1.gguf", "gemma-3-270m-q4_k_m.gguf"]
TEXT = ("The Python tutorial introduces the reader informally to the basic concepts and features of the "
        "language and system. It helps to have a Python interpreter handy for hands-on experience.")


def random_blocks(qtype, n_blocks, rng):
    """Random bytes for every block, with each f16 scale field set to a finite value (as real files have)."""
    block_elems, block_bytes = GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    scale_offsets = {Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [block_bytes - 2]}
    for off in scale_offsets.get(qtype, []):
        raw[:, off:off + 2] = rng.normal(0, 0.05, size=n_blocks).astype(np.float16).view(np.uint8).reshape(n_blocks, 2)
    return raw


def test_every_supported_type_bit_exact(tmp_path, tools_dir):
    rng = np.random.default_rng(0)
    path = tmp_path / "types.gguf"
    writer = GGUFWriter(str(path), "llama")
    expected = {}
    for qtype in [Q.F32, Q.F16, Q.BF16, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0]:
        x = rng.normal(0, 1, size=(6, 256)).astype(np.float32)
        x[0, :32] = 0.0  # an all-zero block (d = 0)
        data = quantize(x, qtype)
        writer.add_tensor(qtype.name, data, raw_dtype=qtype)
        expected[qtype.name] = dequantize(data, qtype)
    for qtype in [Q.Q4_K, Q.Q5_K, Q.Q6_K]:
        raw = random_blocks(qtype, 12, rng)
        writer.add_tensor(qtype.name, raw.reshape(4, -1), raw_dtype=qtype)
        expected[qtype.name] = dequantize(raw.reshape(4, -1), qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    out = tmp_path / "dump.safetensors"
    run([tools_dir / "gguf_dequant_dump", path, out])
    ours = load_file(str(out))
    assert sorted(ours) == sorted(expected)
    for name, ref in expected.items():
        ref = ref.astype(np.float32).reshape(ours[name].shape)
        assert np.array_equal(ours[name].view(np.int32), ref.view(np.int32)), f"{name} differs"


@pytest.mark.parametrize("model", REAL_MODELS)
def test_real_model_dequant_bit_exact(model, tmp_path, tools_dir, models_dir):
    out = tmp_path / "dump.safetensors"
    run([tools_dir / "gguf_dequant_dump", models_dir / model, out])
    ours = load_file(str(out))
    reader = GGUFReader(str(models_dir / model))
    for t in reader.tensors:
        ref = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(ours[t.name].shape)
        assert np.array_equal(ours[t.name].view(np.int32), ref.view(np.int32)), f"{t.name} ({t.tensor_type.name})"


@pytest.mark.parametrize("model", REAL_MODELS)
def test_real_model_logits_match_transformers_gguf(model, tmp_path, patchlm_bin, models_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(models_dir), gguf_file=model)
    hf = AutoModelForCausalLM.from_pretrained(str(models_dir), gguf_file=model, dtype=torch.float32,
                                              attn_implementation="eager").eval()
    ids = tok(TEXT)["input_ids"]
    with torch.no_grad():
        ref = hf(torch.tensor([ids])).logits.float()
    out = tmp_path / "logits.safetensors"
    run([patchlm_bin, "forward", models_dir / model, "--ids", ",".join(map(str, ids)), "--out", out])
    ours = torch.from_numpy(load_file(str(out))["logits"])
    err = (ours - ref).abs().max().item()
    scale = ref.abs().max().item()
    print(f"{model}: {len(ids)} tokens, max |Δlogit| = {err:.3g} (max |logit| {scale:.3g})")
    assert err < 1e-3 * max(1.0, scale), f"{model}: max |Δlogit| {err}"
    assert torch.equal(ours.argmax(-1), ref.argmax(-1))


def test_convert_writes_a_directory_transformers_loads(tmp_path, patchlm_bin, models_dir):
    from transformers import AutoModelForCausalLM
    model = REAL_MODELS[0]
    out = tmp_path / "smollm2-hf"
    run([patchlm_bin, "convert", models_dir / model, out, "--max-shard-size", "200MB"])
    assert (out / "model.safetensors.index.json").exists()
    ref = AutoModelForCausalLM.from_pretrained(str(models_dir), gguf_file=model, dtype=torch.float32).eval()
    back = AutoModelForCausalLM.from_pretrained(str(out), dtype=torch.float32).eval()
    ids = torch.tensor([[1, 504, 3458, 28, 253, 1345, 314, 2]])
    with torch.no_grad():
        err = (back(ids).logits - ref(ids).logits).abs().max().item()
    assert err < 1e-4, err


@pytest.mark.parametrize("model", REAL_MODELS)
def test_convert_writes_tokenizer_and_a_config_both_transformers_conventions_read(model, tmp_path, patchlm_bin,
                                                                                  models_dir):
    """convert of a GGUF gives a complete HF directory: AutoTokenizer loads its tokenizer files with the ids of the
    GGUF's own tokenizer, and config.json says the same RoPE in transformers 5's rope_parameters and in 4.x's
    rope_theta / rope_local_base_freq / rope_scaling (SmolLM2's base is 100 000, not 4.x's default 10 000)."""
    import json

    from transformers import AutoConfig, AutoTokenizer
    out = tmp_path / "hf"
    run([patchlm_bin, "convert", models_dir / model, out, "--dtype", "bf16"])
    ref = AutoTokenizer.from_pretrained(str(models_dir), gguf_file=model)
    tok = AutoTokenizer.from_pretrained(str(out))
    for text in [TEXT, "  spaces\tand\nlines ", "Ünïcödé 🙂 日本語"]:
        assert tok(text)["input_ids"] == ref(text)["input_ids"], text
    has_template = "tokenizer.chat_template" in GGUFReader(str(models_dir / model)).fields
    assert bool(tok.chat_template) == has_template, "the GGUF's chat template (if any) is in tokenizer_config.json"

    config = json.loads((out / "config.json").read_text())
    gguf_cfg = AutoConfig.from_pretrained(str(models_dir), gguf_file=model)
    v5 = AutoConfig.from_pretrained(str(out))
    if config["model_type"] == "gemma3_text":
        assert config["rope_theta"] == v5.rope_parameters["full_attention"]["rope_theta"]
        assert config["rope_local_base_freq"] == v5.rope_parameters["sliding_attention"]["rope_theta"]
        assert config["rope_local_base_freq"] == 10000.0
        assert v5.layer_types == gguf_cfg.layer_types
        period = config["sliding_window_pattern"]
        assert [("full_attention" if (i + 1) % period == 0 else "sliding_attention")
                for i in range(config["num_hidden_layers"])] == config["layer_types"]
    else:
        assert config["rope_theta"] == v5.rope_parameters["rope_theta"] == 100000.0
    assert config["rope_scaling"] is None  # neither packaged model scales RoPE
