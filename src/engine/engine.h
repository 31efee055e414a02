#pragma once
// The generation engine: one decoder (LLaMA / Qwen2 / Gemma-3) laid out for fast inference — q/k/v and gate/up
// projections fused into one GEMM each (dense weights concatenated; hybrid weights' packed row blocks concatenated,
// so the hybrid kernel runs them in one call), a preallocated KV cache of `max_batch` sequence slots, the fused
// decode kernels (kernels/decode_ops), and on CUDA every decode step captured once per batch-size bucket as a CUDA
// graph and replayed; optionally (EngineOptions::graph_prefill_tokens) so is every short one-prompt prefill pass, per
// token bucket (padded rows go to the cache's spare slot; a causal query never sees the padding after it). The same
// code runs on the CPU (ATen references), where tests check it against the Decoder.
//
//   prefill(slots, prompts)         several prompts' tokens in one pass, each into its slot — every projection runs
//                                   once over all their rows; logits of each one's last token
//   prefill(slot, prompt)           the same for one prompt
//   decode(tokens, positions, slots) one token for each of B sequences at their own positions; logits [B, vocab]
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include <ATen/ATen.h>

#include "engine/kv_cache.h"
#include "model/decoder.h"

namespace patchlm {

struct EngineOptions {
  std::int64_t max_batch = 1;     // sequence slots
  std::int64_t max_context = 0;   // tokens per slot; 0 = the model's max_position_embeddings (at most 8192)
  bool cuda_graphs = true;        // capture decode steps (and short one-prompt prefill passes, below) on CUDA
  // One-prompt prefill passes of up to this many tokens replay a CUDA graph per token bucket (prefill_bucket): the
  // eager pass of a short prompt waits on the host's launches (H100, 7B shape, 100 tokens: 1.08-1.14x in graphs,
  // docs/performance.md). Longer prompts, and passes of several prompts, run eagerly. Each bucket's first pass pays a
  // capture (~3 passes), so 0 (every prefill eager) suits callers that prefill each length once (`generate`, `chat`);
  // `serve` sets 512.
  std::int64_t graph_prefill_tokens = 0;
};

// Error naming `id` unless 0 <= id < vocab: the engine's check of every token it is fed, and generation's of a
// request's prompt at submission.
void check_token_id(std::int64_t id, std::int64_t vocab);

// The prompts of one attention call in a prefill pass (prompt_batches in engine.cpp). One prompt: rows [offset,
// offset + length) of the pass as they are. Several (lengths in one power-of-two bucket): each padded to `length`
// rows — `gather` [count · length] picks the pass's rows, a padding row repeating a real one, which no real query
// sees (causal: a query at position t sees keys 0 … t of its own prompt) — and `from` / `to` carry the real rows'
// outputs back to the pass's rows.
struct PromptBatch {
  std::int64_t count = 1, length = 0, offset = 0;
  at::Tensor gather, from, to;  // device int64; undefined for one prompt
};

// A projection the engine computes as one: a single Proj over concatenated weights, or (where they cannot be fused)
// the parts with their outputs concatenated.
struct FusedProj {
  std::vector<Proj> parts;
  at::Tensor forward(const at::Tensor& x) const;
};

class Engine {
 public:
  // Takes the model (its projections are fused and their originals released).
  Engine(std::unique_ptr<Decoder> model, const EngineOptions& options);
  ~Engine();

  // Runs `prompt` (1 ≤ length ≤ max_context) into `slot` from position 0; returns the float32 logits [vocab] of its
  // last token.
  at::Tensor prefill(std::int64_t slot, const std::vector<std::int64_t>& prompt);
  // Runs prompts[i] into slots[i] (distinct), each from position 0, all in one forward pass: the projections see the
  // rows of every prompt at once (one GEMM of Σ lengths rows each), attention stays within each prompt. Returns the
  // float32 logits [prompts, vocab] of each prompt's last token.
  at::Tensor prefill(const std::vector<std::int64_t>& slots, const std::vector<std::vector<std::int64_t>>& prompts);
  // Feeds tokens[b] at positions[b] to the sequence in slots[b] (all host values; positions < max_context, slots
  // distinct); returns float32 logits [B, vocab] on the model's device.
  at::Tensor decode(const std::vector<std::int64_t>& tokens, const std::vector<std::int64_t>& positions,
                    const std::vector<std::int64_t>& slots);

  const ModelConfig& config() const { return model_->config(); }
  at::Device device() const { return model_->device(); }
  at::ScalarType dtype() const { return model_->dtype(); }
  std::int64_t max_batch() const { return options_.max_batch; }
  std::int64_t max_context() const { return cache_.length(); }
  int graphs_captured() const { return static_cast<int>(graphs_.size()); }
  int prefill_graphs_captured() const { return static_cast<int>(prefill_graphs_.size()); }

 private:
  struct Layer {
    FusedProj qkv, o, gate_up, down;
    at::Tensor input_norm, post_attention_norm, pre_feedforward_norm, post_feedforward_norm, q_norm, k_norm;
  };
  struct Graph;  // a captured decode step of one batch bucket, or prefill pass of one token bucket (CUDA)

  // One forward of n rows (tokens) at `positions` into cache `slots` (device int64 [n]); no `prompts`: decode, one row
  // per sequence (attention over its cache); else the prompts' rows (causal attention within each prompt, one call per
  // batch). Returns the final hidden states [n, hidden].
  at::Tensor forward(const at::Tensor& ids, const at::Tensor& positions, const at::Tensor& slots,
                     const std::vector<PromptBatch>& prompts);
  at::Tensor attention(std::size_t layer, at::Tensor& qkv, const at::Tensor& positions, const at::Tensor& slots,
                       const std::vector<PromptBatch>& prompts);
  at::Tensor decode_logits(const at::Tensor& ids, const at::Tensor& positions, const at::Tensor& slots);
  Graph& graph_for(std::int64_t bucket);
  // A graph of `pass` (its logits) on a side stream of the model's device: `prepare` makes the graph's inputs there,
  // two warm-up passes run outside the capture, then the capture into `pool` ({0, 0}: a private pool).
  std::unique_ptr<Graph> capture(const std::function<void(Graph&)>& prepare,
                                 const std::function<at::Tensor(const Graph&)>& pass, c10::MempoolId_t pool);
  // A one-prompt prefill pass of `bucket` rows from the graph's inputs (tokens, positions, slots, last real row).
  at::Tensor prefill_logits(const Graph& g, std::int64_t bucket);
  Graph& prefill_graph_for(std::int64_t bucket);
  at::Tensor replay_prefill(std::int64_t bucket, std::int64_t slot, const std::vector<std::int64_t>& prompt);

  std::unique_ptr<Decoder> model_;
  EngineOptions options_;
  std::vector<Layer> layers_;
  StaticKvCache cache_;
  at::Tensor cos_global_, sin_global_, cos_local_, sin_local_;  // fp32 [max_context, head_dim]
  std::map<std::int64_t, std::unique_ptr<Graph>> graphs_;
  std::map<std::int64_t, std::unique_ptr<Graph>> prefill_graphs_;
  c10::MempoolId_t prefill_pool_{0, 0};  // the prefill graphs' shared memory pool ({0, 0}: none yet)
};

// Batch buckets the CUDA graphs are captured for: 1, 2, 4, 8, 16, then multiples of 16.
std::int64_t batch_bucket(std::int64_t batch);

// Token buckets of the one-prompt prefill graphs: `tokens` rounded up to a multiple of 16 up to 256 tokens, of 64
// beyond (at most 15 or 63 padding rows; 20 graphs up to 512 tokens); 0 where that exceeds `max_tokens` (no graph).
std::int64_t prefill_bucket(std::int64_t tokens, std::int64_t max_tokens);

}  // namespace patchlm
