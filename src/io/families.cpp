#include "io/families.h"

namespace patchlm {
namespace {

// One row per family.
constexpr std::array<FamilyTraits, 3> kFamilies = {{
    {Family::llama, "llama", {"mistral", ""}, "llama", "LlamaForCausalLM",
     /*norm_plus_one=*/false, /*qk_norm=*/false, /*sandwich_norms=*/false, /*scale_embeddings=*/false,
     /*local_rope=*/false, "silu", /*default_attention_bias=*/false, /*default_tied_embeddings=*/false, 10000.0,
     "post_attention_layernorm", /*gguf_rotary_interleaved=*/true, /*gguf_norms_plus_one=*/false},
    {Family::qwen2, "qwen2", {"", ""}, "qwen2", "Qwen2ForCausalLM",
     false, false, false, false, false, "silu", /*default_attention_bias=*/true, /*default_tied_embeddings=*/true,
     10000.0, "post_attention_layernorm", false, false},
    {Family::gemma3, "gemma3_text", {"gemma3", ""}, "gemma3", "Gemma3ForCausalLM",
     true, true, true, true, /*local_rope=*/true, "gelu_pytorch_tanh", false, true, 1e6,
     "pre_feedforward_layernorm", false, /*gguf_norms_plus_one=*/true},
}};

}  // namespace

const FamilyTraits& traits(Family family) { return kFamilies[static_cast<std::size_t>(family)]; }

const FamilyTraits* family_of_model_type(std::string_view model_type) {
  for (const FamilyTraits& f : kFamilies) {
    if (model_type.empty()) break;
    if (f.model_type == model_type || f.model_type_aliases[0] == model_type || f.model_type_aliases[1] == model_type)
      return &f;
  }
  return nullptr;
}

const FamilyTraits* family_of_gguf_architecture(std::string_view architecture) {
  for (const FamilyTraits& f : kFamilies)
    if (f.gguf_architecture == architecture) return &f;
  return nullptr;
}

std::string_view supported_model_types() { return "llama, qwen2, gemma3_text"; }
std::string_view supported_gguf_architectures() { return "llama, qwen2, gemma3"; }

bool is_projection_weight(std::string_view name) {
  constexpr std::string_view kSuffix = ".weight";
  if (name.size() <= kSuffix.size() || name.substr(name.size() - kSuffix.size()) != kSuffix) return false;
  name.remove_suffix(kSuffix.size());
  for (std::string_view p : kProjectionNames)
    if (name.size() > p.size() && name.substr(name.size() - p.size()) == p && name[name.size() - p.size() - 1] == '.')
      return true;
  return false;
}

}  // namespace patchlm
