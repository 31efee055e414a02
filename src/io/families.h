#pragma once
// The model families patchlm runs, as data (llama.cpp's llama-arch tables are the model): what each is called in
// config.json and GGUF, the per-family deltas of the one decoder, and how llama.cpp stores its tensors. Config
// parsing, the GGUF mapping, the decoder and inspection read this table; a new family is a new row.
#include <array>
#include <string_view>

namespace patchlm {

enum class Family { llama, qwen2, gemma3 };

struct FamilyTraits {
  Family family;
  std::string_view model_type;          // config.json model_type written by patchlm
  std::array<std::string_view, 2> model_type_aliases;  // further config.json model_type values read as this family
  std::string_view gguf_architecture;   // general.architecture
  std::string_view hf_architecture;     // config.json "architectures"
  // Decoder deltas.
  bool norm_plus_one;                   // RMSNorm scales by (1 + w)
  bool qk_norm;                         // RMSNorm on q and k per head
  bool sandwich_norms;                  // post-attention and pre/post-feed-forward norms
  bool scale_embeddings;                // embeddings × sqrt(hidden)
  bool local_rope;                      // sliding-window layers have their own RoPE base
  std::string_view default_activation;  // when config.json names none
  bool default_attention_bias;          // q/k/v biases when config.json says nothing
  bool default_tied_embeddings;
  double default_rope_theta;
  // llama.cpp storage.
  std::string_view gguf_ffn_norm;       // what blk.N.ffn_norm is in HF names
  bool gguf_rotary_interleaved;         // q/k rows permuted by llama.cpp's converter
  bool gguf_norms_plus_one;             // norm weights stored as 1 + w
};

const FamilyTraits& traits(Family family);
// nullptr for names no family answers to.
const FamilyTraits* family_of_model_type(std::string_view model_type);
const FamilyTraits* family_of_gguf_architecture(std::string_view architecture);
// "llama, qwen2, gemma3_text" / "llama, qwen2, gemma3": for error messages.
std::string_view supported_model_types();
std::string_view supported_gguf_architectures();

// The masked projections of every decoder block, in the order blocks list them (HF names relative to the block).
inline constexpr std::array<std::string_view, 7> kProjectionNames = {
    "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
    "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};

// Whether a HF tensor name is the weight of one of those projections.
bool is_projection_weight(std::string_view tensor_name);

}  // namespace patchlm
