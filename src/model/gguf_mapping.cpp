#include "model/gguf_mapping.h"

#include <regex>

namespace patchlm {

std::optional<std::string> hf_name_for_gguf(Family family, const std::string& name) {
  static const std::map<std::string, std::string> kGlobal = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"output_norm.weight", "model.norm.weight"},
      {"output.weight", "lm_head.weight"},
  };
  static const std::map<std::string, std::string> kBlock = {
      {"attn_norm", "input_layernorm"},
      {"attn_q", "self_attn.q_proj"},
      {"attn_k", "self_attn.k_proj"},
      {"attn_v", "self_attn.v_proj"},
      {"attn_output", "self_attn.o_proj"},
      {"attn_q_norm", "self_attn.q_norm"},
      {"attn_k_norm", "self_attn.k_norm"},
      {"ffn_gate", "mlp.gate_proj"},
      {"ffn_up", "mlp.up_proj"},
      {"ffn_down", "mlp.down_proj"},
      {"post_attention_norm", "post_attention_layernorm"},
      {"post_ffw_norm", "post_feedforward_layernorm"},
  };
  if (auto it = kGlobal.find(name); it != kGlobal.end()) return it->second;
  static const std::regex kPattern(R"(blk\.(\d+)\.([a-z_]+)\.(weight|bias))");
  std::smatch m;
  if (!std::regex_match(name, m, kPattern)) return std::nullopt;
  const std::string layer = m[1], part = m[2], kind = m[3];
  std::string hf;
  if (part == "ffn_norm") {
    // Gemma-3 has four norms per block; the others call the pre-MLP norm post_attention_layernorm.
    hf = traits(family).gguf_ffn_norm;
  } else if (auto it = kBlock.find(part); it != kBlock.end()) {
    hf = it->second;
  } else {
    return std::nullopt;
  }
  return "model.layers." + layer + "." + hf + "." + kind;
}

at::Tensor gguf_to_hf_layout(const ModelConfig& config, const std::string& hf_name, at::Tensor t) {
  auto ends_with = [&](const char* suffix) {
    std::string s(suffix);
    return hf_name.size() >= s.size() && hf_name.compare(hf_name.size() - s.size(), s.size(), s) == 0;
  };
  const FamilyTraits& family = traits(config.family);
  if (family.gguf_rotary_interleaved && (ends_with("q_proj.weight") || ends_with("k_proj.weight"))) {
    // llama.cpp interleaves the two rotary halves of each head; restore HF's rotate_half layout.
    std::int64_t heads = ends_with("q_proj.weight") ? config.num_heads : config.num_kv_heads;
    std::int64_t rows = t.size(0);
    return t.reshape({heads, rows / heads / 2, 2, t.size(1)}).transpose(1, 2).reshape({rows, t.size(1)}).contiguous();
  }
  if (family.gguf_norms_plus_one && ends_with("norm.weight")) return t - 1.0f;
  return t;
}

}  // namespace patchlm
