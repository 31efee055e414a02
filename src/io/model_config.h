#pragma once
// ModelConfig: everything the decoder needs to know about a model, as data. Families differ only here and in a
// few small hooks of the decoder (see docs/architecture.md). Read from HF config.json or GGUF metadata.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/families.h"

namespace patchlm {

struct GgufHeader;

struct RopeConfig {
  std::string type = "default";  // default | linear | llama3
  double theta = 10000.0;
  double factor = 1.0;
  double low_freq_factor = 1.0;   // llama3
  double high_freq_factor = 4.0;  // llama3
  double original_max_position = 8192;  // llama3
};

struct ModelConfig {
  Family family = Family::llama;
  std::string model_type;  // as in config.json: llama, qwen2, gemma3_text
  std::int64_t vocab_size = 0;
  std::int64_t hidden_size = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t num_layers = 0;
  std::int64_t num_heads = 0;
  std::int64_t num_kv_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  std::string hidden_act = "silu";  // silu | gelu_pytorch_tanh
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v biases (Qwen2)
  bool mlp_bias = false;
  RopeConfig rope;          // full-attention layers
  RopeConfig rope_local;    // sliding-window layers (Gemma-3)
  std::int64_t sliding_window = 0;  // 0 = none
  std::vector<bool> sliding_layers;  // per layer: true = sliding-window attention
  // Gemma-3 deltas.
  bool norm_plus_one = false;         // RMSNorm scales by (1 + w)
  bool qk_norm = false;               // RMSNorm on q and k per head
  bool sandwich_norms = false;        // post-attention and pre/post-feed-forward norms
  bool scale_embeddings = false;      // embeddings × sqrt(hidden)
  double query_pre_attn_scalar = 0;   // attention scale = this^-0.5 (0: head_dim)
  double final_logit_softcapping = 0;  // 0 = off
  std::int64_t bos_token_id = -1;
  std::vector<std::int64_t> eos_token_ids;

  double attention_scale() const;
  nlohmann::ordered_json to_hf_json() const;  // a config.json transformers accepts
};

// `source` names the file in errors. Throws Error naming the field for missing/invalid values and for
// architectures other than llama / qwen2 / gemma3(_text).
ModelConfig parse_hf_config(const nlohmann::json& j, const std::string& source);
ModelConfig config_from_gguf(const GgufHeader& h, const std::string& source);

// Checks internal consistency (sizes, divisibility, ranges of RoPE and token ids); throws Error naming the field.
void validate_config(const ModelConfig& c, const std::string& source);
// The sizes alone (positive, below sanity bounds), checked as soon as they are read.
void validate_sizes(const ModelConfig& c, const std::string& source);

}  // namespace patchlm
