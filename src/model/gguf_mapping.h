#pragma once
// llama.cpp tensor names and layouts → Hugging Face ones, per family:
//   blk.N.attn_q.weight → model.layers.N.self_attn.q_proj.weight, ...
//   LLaMA q/k weights are stored with llama.cpp's rotary permutation, undone here;
//   Gemma-3 RMSNorm weights are stored as (1 + w), so 1 is subtracted.
#include <optional>
#include <string>

#include <ATen/ATen.h>

#include "io/model_config.h"

namespace patchlm {

// nullopt for tensors that have no HF counterpart (they are reported and skipped).
std::optional<std::string> hf_name_for_gguf(Family family, const std::string& gguf_name);

// Applies the family's layout fix to a dequantised tensor (already in HF shape).
at::Tensor gguf_to_hf_layout(const ModelConfig& config, const std::string& hf_name, at::Tensor t);

}  // namespace patchlm
