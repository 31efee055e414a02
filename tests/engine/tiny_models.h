#pragma once
// Random tiny checkpoints of each family, built in memory (no files): for tests of the decoder and the engine.
#include <ATen/ATen.h>

#include "model/checkpoint.h"

namespace patchlm::testing {

// family llama (GQA), qwen2 (q/k/v biases) or gemma3 (norms 1 + w, q/k norms, sandwich norms, embedding scale,
// sliding window 4 on all but every third layer with its own RoPE base, logit soft-capping). Weights N(0, 0.2).
inline Checkpoint tiny_checkpoint(Family family, std::uint64_t seed = 0, std::int64_t head_dim = 8,
                                  std::int64_t hidden = 32, std::int64_t intermediate = 48) {
  at::manual_seed(seed);
  Checkpoint c;
  ModelConfig& m = c.config;
  m.family = family;
  m.model_type = std::string(traits(family).model_type);
  m.vocab_size = 96;
  m.hidden_size = hidden;
  m.intermediate_size = intermediate;
  m.num_layers = 3;
  m.num_heads = 4;
  m.num_kv_heads = 2;
  m.head_dim = head_dim;
  m.max_position_embeddings = 128;
  m.rms_norm_eps = 1e-6;
  m.tie_word_embeddings = family != Family::llama;
  m.attention_bias = family == Family::qwen2;
  m.rope.theta = 10000;
  m.rope_local = m.rope;
  m.sliding_layers.assign(3, false);
  if (family == Family::gemma3) {
    m.hidden_act = "gelu_pytorch_tanh";
    m.norm_plus_one = m.qk_norm = m.sandwich_norms = m.scale_embeddings = true;
    m.sliding_window = 4;
    m.sliding_layers = {true, true, false};
    m.rope_local.theta = 500;
    m.query_pre_attn_scalar = 16;
    m.final_logit_softcapping = 5.0;
  }
  m.eos_token_ids = {1};
  auto rnd = [](std::vector<std::int64_t> shape) { return at::randn(shape) * 0.2; };
  const std::int64_t H = m.hidden_size, D = m.head_dim, I = m.intermediate_size;
  c.tensors["model.embed_tokens.weight"] = rnd({m.vocab_size, H});
  c.tensors["model.norm.weight"] = rnd({H}) + (m.norm_plus_one ? 0.0 : 1.0);
  if (!m.tie_word_embeddings) c.tensors["lm_head.weight"] = rnd({m.vocab_size, H});
  for (std::int64_t l = 0; l < m.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    for (const char* norm : {"input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"}) {
      if (!m.sandwich_norms && std::string(norm).find("feedforward") != std::string::npos) continue;
      c.tensors[p + norm + ".weight"] = rnd({H}) + (m.norm_plus_one ? 0.0 : 1.0);
    }
    if (m.qk_norm) {
      c.tensors[p + "self_attn.q_norm.weight"] = rnd({D});
      c.tensors[p + "self_attn.k_norm.weight"] = rnd({D});
    }
    c.tensors[p + "self_attn.q_proj.weight"] = rnd({m.num_heads * D, H});
    c.tensors[p + "self_attn.k_proj.weight"] = rnd({m.num_kv_heads * D, H});
    c.tensors[p + "self_attn.v_proj.weight"] = rnd({m.num_kv_heads * D, H});
    c.tensors[p + "self_attn.o_proj.weight"] = rnd({H, m.num_heads * D});
    if (m.attention_bias) {
      c.tensors[p + "self_attn.q_proj.bias"] = rnd({m.num_heads * D});
      c.tensors[p + "self_attn.k_proj.bias"] = rnd({m.num_kv_heads * D});
      c.tensors[p + "self_attn.v_proj.bias"] = rnd({m.num_kv_heads * D});
    }
    c.tensors[p + "mlp.gate_proj.weight"] = rnd({I, H});
    c.tensors[p + "mlp.up_proj.weight"] = rnd({I, H});
    c.tensors[p + "mlp.down_proj.weight"] = rnd({H, I});
  }
  c.source = "tiny";
  c.format = "memory";
  return c;
}

}  // namespace patchlm::testing
