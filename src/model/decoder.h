#pragma once
// One decoder for LLaMA-2/3.x (SmolLM2), Qwen2/2.5 and Gemma-3 text. Family differences come from ModelConfig:
// q/k/v biases (Qwen2), RMSNorm (1 + w), q/k norms, sandwich norms, embedding scale, gelu-tanh and
// sliding-window layers with their own RoPE base (Gemma-3), llama3 rope scaling. Every linear layer is a Proj.
#include <array>
#include <functional>
#include <vector>

#include <ATen/ATen.h>

#include "io/families.h"
#include "model/checkpoint.h"
#include "model/proj.h"

namespace patchlm {

// Keys and values after RoPE, per layer: [B, kv_heads, T, head_dim].
struct KvCache {
  std::vector<at::Tensor> keys;
  std::vector<at::Tensor> values;
  std::int64_t length = 0;
};

// Absolute positions of the tokens of one forward pass and their rotary tables, computed once per pass.
struct Positions {
  at::Tensor ids;                     // [T] int64
  at::Tensor cos_global, sin_global;  // [T, head_dim] for full-attention layers
  at::Tensor cos_local, sin_local;    // [T, head_dim] for sliding-window layers (undefined without any)
};

struct Block {
  at::Tensor input_norm, post_attention_norm, pre_feedforward_norm, post_feedforward_norm;
  at::Tensor q_norm, k_norm;  // Gemma-3
  Proj q, k, v, o, gate, up, down;

  // In the order of io/families' kProjectionNames.
  std::array<Proj*, kProjectionNames.size()> projections() { return {&q, &k, &v, &o, &gate, &up, &down}; }
  std::array<const Proj*, kProjectionNames.size()> projections() const { return {&q, &k, &v, &o, &gate, &up, &down}; }
};

// Runs one decoder block. A BlockRunner may wrap it (activation checkpointing, per-block state such as the masks of
// mask learning) but must return block(h); `block` owns everything it needs, so it may be kept and called again
// later (the backward pass of a checkpointed block recomputes it).
using BlockFn = std::function<at::Tensor(const at::Tensor& h)>;
using BlockRunner = std::function<at::Tensor(std::size_t layer, const at::Tensor& h, const BlockFn& block)>;

// Builds a projection's weight in a form of its own instead of the dense tensor (kernels/hybrid_model: a packed
// weight on the hybrid GPU kernel): given the weight's name and shape [out, in], returns the strategy that computes
// the projection, or nullptr for the dense weight.
using ProjBuilder =
    std::function<std::shared_ptr<ProjStrategy>(const std::string& weight, std::int64_t out, std::int64_t in)>;

class Decoder {
 public:
  // Takes the checkpoint's tensors (converted to `dtype` on `device`) and checks every name and shape against
  // the config: a missing tensor or a shape mismatch is an Error naming the tensor.
  Decoder(const Checkpoint& checkpoint, at::ScalarType dtype = at::kFloat, at::Device device = at::kCPU,
          const ProjBuilder& build = {});

  // input_ids [B, T] (int64). Positions continue from cache->length when a cache is given (which is extended).
  // Returns float32 logits [B, T, vocab].
  at::Tensor forward(const at::Tensor& input_ids, KvCache* cache = nullptr) const;

  // Hidden states after the final norm [B, T, hidden] (logits = these × lm_headᵀ). `run` (optional) wraps every
  // block (mask learning: activation checkpointing and per-block masks).
  at::Tensor hidden_states(const at::Tensor& input_ids, KvCache* cache = nullptr, const BlockRunner& run = {}) const;
  at::Tensor logits_from_hidden(const at::Tensor& hidden) const;
  // hidden × lm_headᵀ in the model's dtype, before the fp32 cast and any soft-cap (config().final_logit_softcapping).
  at::Tensor lm_head_logits(const at::Tensor& hidden) const;

  const ModelConfig& config() const { return config_; }
  at::ScalarType dtype() const { return dtype_; }
  at::Device device() const { return device_; }
  std::vector<Block>& blocks() { return blocks_; }
  const std::vector<Block>& blocks() const { return blocks_; }
  // All projections of all blocks, in order (Block::projections() per block).
  std::vector<Proj*> projections();

  // Positions start..start+T-1 with their rotary tables in the compute dtype.
  Positions positions(std::int64_t start, std::int64_t count) const;
  // One block's forward: h [B, T, hidden] at `positions`; appends to the cache when given.
  at::Tensor block_forward(std::size_t layer, const at::Tensor& h, const Positions& positions, KvCache* cache) const;
  at::Tensor embed(const at::Tensor& input_ids) const;
  // The final norm after the last block (hidden_states = final_norm(blocks(embed(ids)))).
  at::Tensor final_norm(const at::Tensor& h) const { return rms_norm(h, final_norm_); }
  // Fused elementwise kernels on CUDA — what mask learning turns on, where the composed forms' many passes add up over
  // forward, recomputation and backward: RMSNorm through ATen's fused kernel (one pass each way, fp32 math, one
  // rounding of the output; HF's composed form rounds twice; not for Gemma's (1 + w)), the rotary embedding
  // (rope.h: apply_rope_fused) and the gated activation (gated_activation.h). Inference keeps HF's composed forms.
  void set_fused_kernels(bool on) { fused_kernels_ = on; }

 private:
  at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight) const;
  at::Tensor attention(std::size_t layer, const at::Tensor& x, const Positions& positions, KvCache* cache) const;
  at::Tensor mlp(const Block& b, const at::Tensor& x) const;

  ModelConfig config_;
  at::ScalarType dtype_;
  at::Device device_;
  at::Tensor embed_tokens_, final_norm_, lm_head_;
  at::Tensor inv_freq_global_, inv_freq_local_;
  std::vector<Block> blocks_;
  bool fused_kernels_ = false;
};

}  // namespace patchlm
