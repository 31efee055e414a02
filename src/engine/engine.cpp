#include "engine/engine.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "kernels/decode_ops.h"
#include "kernels/hybrid_linear.h"
#include "model/rope.h"
#include "util/error.h"

#if PATCHLM_HAVE_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#endif

namespace patchlm {
namespace {

using kernels::HybridProj;

// The projections as one: concatenated dense weights, or concatenated packed row blocks for the hybrid kernel; parts
// that cannot be fused (dense and packed mixed, different tiles) stay apart.
FusedProj fuse(const std::vector<Proj*>& parts, const std::string& name, at::Device device) {
  FusedProj fused;
  if (parts.size() == 1) {
    fused.parts.push_back(*parts[0]);
    return fused;
  }
  std::vector<std::shared_ptr<HybridProj>> packed;
  for (Proj* p : parts) packed.push_back(std::dynamic_pointer_cast<HybridProj>(p->strategy()));
  const bool all_packed = std::all_of(packed.begin(), packed.end(), [](const auto& h) { return h != nullptr; });
  const bool all_dense = std::all_of(parts.begin(), parts.end(), [](Proj* p) { return p->strategy() == nullptr; });
  const bool biased = std::any_of(parts.begin(), parts.end(), [](Proj* p) { return p->bias().defined(); });
  at::Tensor bias;
  if (biased) {
    std::vector<at::Tensor> biases;
    for (Proj* p : parts)
      biases.push_back(p->bias().defined() ? p->bias()
                                           : at::zeros({p->out_features()}, at::TensorOptions()
                                                                                .dtype(p->weight().scalar_type())
                                                                                .device(device)));
    bias = at::cat(biases);
  }
  std::int64_t rows = 0;
  for (Proj* p : parts) rows += p->out_features();
  if (all_dense) {
    std::vector<at::Tensor> weights;
    for (Proj* p : parts) weights.push_back(p->weight());
    fused.parts.emplace_back(name, at::cat(weights), bias);
    return fused;
  }
  if (all_packed) {
    std::vector<const hybrid::PackedHybrid*> blocks;
    for (const auto& h : packed) blocks.push_back(&h->packed());
    const bool same_tile = std::all_of(blocks.begin(), blocks.end(), [&](const hybrid::PackedHybrid* b) {
      return b->grid.tile == blocks[0]->grid.tile && b->grid.cols == blocks[0]->grid.cols;
    });
    if (same_tile) {
      auto stacked = std::make_shared<hybrid::PackedHybrid>(hybrid::concat_rows(blocks, name));
      Proj p(name, at::empty({rows, parts[0]->in_features()}, at::TensorOptions().dtype(at::kBFloat16).device(at::kMeta)),
             bias);
      p.set_strategy(std::make_shared<HybridProj>(stacked, device));
      fused.parts.push_back(std::move(p));
      return fused;
    }
  }
  for (Proj* p : parts) fused.parts.push_back(*p);
  return fused;
}

// cos / sin fp32 [length, head_dim] of positions 0 .. length-1.
std::pair<at::Tensor, at::Tensor> rope_table(const RopeConfig& rope, std::int64_t head_dim, std::int64_t length,
                                             at::Device device) {
  const at::Tensor positions = at::arange(length, at::TensorOptions().dtype(at::kLong));
  auto [cos, sin] = rope_cos_sin(rope_inverse_frequencies(rope, head_dim), positions, at::kFloat);
  return {cos.to(device).contiguous(), sin.to(device).contiguous()};
}

at::Tensor host_ids(const std::vector<std::int64_t>& v, at::Device device) {
  return at::tensor(v, at::TensorOptions().dtype(at::kLong)).to(device);
}

// The check prefill and decode share besides check_token_id: a slot inside [0, max_batch) used once per call
// (`seen`: the call's slots so far).
void check_slot(std::int64_t slot, std::int64_t max_batch, std::set<std::int64_t>& seen) {
  if (slot < 0 || slot >= max_batch || !seen.insert(slot).second)
    throw Error(str_cat("engine: slot ", slot, " is outside [0, ", max_batch, ") or used twice"));
}

// A prompt's rows in a prefill pass: rows [offset, offset + length), at positions 0 … length − 1.
struct PromptRows {
  std::int64_t offset = 0, length = 0;
};

// The attention calls of a prefill pass, planned once for all layers: prompts whose lengths share a power-of-two
// bucket go into one call, padded to the longest of them (at most twice a prompt's length, so at most 4× its
// attention work and usually far less; one call per prompt would cost a launch sequence per prompt and layer).
std::vector<PromptBatch> prompt_batches(const std::vector<PromptRows>& prompts, at::Device device) {
  const auto bucket_of = [](std::int64_t length) {
    int b = 0;
    while ((std::int64_t{1} << b) < length) ++b;
    return b;
  };
  std::map<int, std::vector<PromptRows>> buckets;
  for (const PromptRows& p : prompts) buckets[bucket_of(p.length)].push_back(p);
  const auto on_device = [&](const std::vector<std::int64_t>& v) { return at::tensor(v, at::kLong).to(device); };
  std::vector<PromptBatch> batches;
  for (const auto& [bucket, group] : buckets) {
    PromptBatch b;
    b.count = static_cast<std::int64_t>(group.size());
    for (const PromptRows& p : group) b.length = std::max(b.length, p.length);
    if (b.count == 1) {
      b.offset = group[0].offset;
      batches.push_back(b);
      continue;
    }
    std::vector<std::int64_t> gather, from, to;
    for (std::int64_t g = 0; g < b.count; ++g)
      for (std::int64_t t = 0; t < b.length; ++t) {
        const bool real = t < group[g].length;
        gather.push_back(group[g].offset + (real ? t : 0));
        if (real) from.push_back(g * b.length + t), to.push_back(group[g].offset + t);
      }
    b.gather = on_device(gather), b.from = on_device(from), b.to = on_device(to);
    batches.push_back(b);
  }
  return batches;
}

// Causal attention (within `window` positions if > 0) of one batch of prompts: q, k, v [count, heads, length, D].
at::Tensor causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                            std::int64_t window) {
  const std::int64_t T = q.size(2);
  const bool grouped = q.size(1) != k.size(1);
  if (window == 0 || window >= T) return at::scaled_dot_product_attention(q, k, v, {}, 0.0, /*is_causal=*/true, scale, grouped);
  const at::Tensor pos = at::arange(T, at::TensorOptions().dtype(at::kLong).device(q.device()));
  const at::Tensor qp = pos.unsqueeze(1), kp = pos.unsqueeze(0);
  const at::Tensor allowed = at::logical_and(kp <= qp, kp > qp - window);
  return at::scaled_dot_product_attention(q, k, v, allowed, 0.0, false, scale, grouped);
}

// Attention within each prompt of a prefill pass: qkv [n, (H + 2·KV)·D] with q and k rotated → [n, H·D].
at::Tensor prompt_attention(const at::Tensor& qkv, const std::vector<PromptBatch>& batches, std::int64_t H,
                            std::int64_t KV, std::int64_t D, double scale, std::int64_t window) {
  const std::int64_t n = qkv.size(0), width = qkv.size(1);
  const bool whole = batches.size() == 1 && batches[0].count == 1 && batches[0].length == n;
  at::Tensor out = whole ? at::Tensor() : at::empty({n, H * D}, qkv.options());
  for (const PromptBatch& b : batches) {
    const std::int64_t G = b.count, T = b.length;
    const at::Tensor rows = G == 1 ? qkv.narrow(0, b.offset, T).view({1, T, width})
                                   : qkv.index_select(0, b.gather).view({G, T, width});
    const at::Tensor q = rows.narrow(2, 0, H * D).view({G, T, H, D}).transpose(1, 2);
    const at::Tensor k = rows.narrow(2, H * D, KV * D).view({G, T, KV, D}).transpose(1, 2);
    const at::Tensor v = rows.narrow(2, (H + KV) * D, KV * D).view({G, T, KV, D}).transpose(1, 2);
    const at::Tensor o = causal_attention(q, k, v, scale, window).transpose(1, 2).reshape({G * T, H * D});
    if (whole) return o;
    if (G == 1)
      out.narrow(0, b.offset, T).copy_(o);
    else
      out.index_copy_(0, b.to, o.index_select(0, b.from));
  }
  return out;
}

}  // namespace

void check_token_id(std::int64_t id, std::int64_t vocab) {
  if (id < 0 || id >= vocab) throw Error(str_cat("token id ", id, " is outside the vocabulary [0, ", vocab, ")"));
}

at::Tensor FusedProj::forward(const at::Tensor& x) const {
  if (parts.size() == 1) return parts[0].forward(x);
  std::vector<at::Tensor> outs;
  for (const Proj& p : parts) outs.push_back(p.forward(x));
  return at::cat(outs, -1);
}

std::int64_t batch_bucket(std::int64_t batch) {
  for (std::int64_t b : {1, 2, 4, 8, 16})
    if (batch <= b) return b;
  return (batch + 15) / 16 * 16;
}

std::int64_t prefill_bucket(std::int64_t tokens, std::int64_t max_tokens) {
  const std::int64_t step = tokens <= 256 ? 16 : 64;
  const std::int64_t bucket = (tokens + step - 1) / step * step;
  return tokens >= 1 && bucket <= max_tokens ? bucket : 0;
}

#if PATCHLM_HAVE_CUDA
struct Engine::Graph {
  at::cuda::CUDAGraph graph;
  // int64; decode: [3, bucket] tokens, positions, slots; prefill: [3 · bucket + 1], the same rows and the last real row
  at::Tensor inputs;
  at::Tensor logits;  // float [bucket, vocab] (decode) or [1, vocab] (prefill), written by every replay
};
#else
struct Engine::Graph {};
#endif

Engine::Engine(std::unique_ptr<Decoder> model, const EngineOptions& options) : model_(std::move(model)), options_(options) {
  const ModelConfig& c = model_->config();
  if (options_.max_batch < 1) throw UsageError(str_cat("engine: max_batch must be positive, got ", options_.max_batch));
  std::int64_t context = options_.max_context > 0 ? options_.max_context : std::min<std::int64_t>(c.max_position_embeddings, 8192);
  if (context < 1) throw UsageError(str_cat("engine: max_context must be positive, got ", context));
  const at::Device device = model_->device();
  for (Block& b : model_->blocks()) {
    Layer l;
    const std::string prefix = b.q.name().substr(0, b.q.name().rfind("self_attn"));
    l.qkv = fuse({&b.q, &b.k, &b.v}, prefix + "self_attn.qkv_proj", device);
    l.o = fuse({&b.o}, b.o.name(), device);
    l.gate_up = fuse({&b.gate, &b.up}, prefix + "mlp.gate_up_proj", device);
    l.down = fuse({&b.down}, b.down.name(), device);
    l.input_norm = b.input_norm;
    l.post_attention_norm = b.post_attention_norm;
    l.pre_feedforward_norm = b.pre_feedforward_norm;
    l.post_feedforward_norm = b.post_feedforward_norm;
    l.q_norm = b.q_norm;
    l.k_norm = b.k_norm;
    for (Proj* p : b.projections()) *p = Proj();  // the fused copies replace them
    layers_.push_back(std::move(l));
#if PATCHLM_HAVE_CUDA
    // The released weights' blocks are not the fused copies' sizes: hand them back now, so fusing never holds
    // more than one extra layer (else the model's footprint would double while the engine is built).
    if (device.is_cuda()) c10::cuda::CUDACachingAllocator::emptyCache();
#endif
  }
  cache_ = StaticKvCache(c.num_layers, options_.max_batch, c.num_kv_heads, context, c.head_dim,
                   at::TensorOptions().dtype(model_->dtype()).device(device));
  std::tie(cos_global_, sin_global_) = rope_table(c.rope, c.head_dim, context, device);
  std::tie(cos_local_, sin_local_) = rope_table(c.rope_local, c.head_dim, context, device);
}

Engine::~Engine() = default;

at::Tensor Engine::attention(std::size_t layer, at::Tensor& qkv, const at::Tensor& positions, const at::Tensor& slots,
                             const std::vector<PromptBatch>& prompts) {
  const ModelConfig& c = model_->config();
  const std::int64_t H = c.num_heads, KV = c.num_kv_heads, D = c.head_dim;
  const bool sliding = c.sliding_layers[layer];
  at::Tensor& keys = cache_.keys(layer);
  at::Tensor& values = cache_.values(layer);
  kernels::rope_and_cache_(qkv, sliding ? cos_local_ : cos_global_, sliding ? sin_local_ : sin_global_, positions, slots,
                           keys, values, H, KV);
  const std::int64_t window = sliding ? c.sliding_window : 0;
  if (prompts.empty()) return kernels::decode_attention(qkv, keys, values, positions, slots, H, KV, c.attention_scale(), window);
  // Prompts start at position 0: their keys and values are their own rows, in qkv as in the cache.
  return prompt_attention(qkv, prompts, H, KV, D, c.attention_scale(), window);
}

at::Tensor Engine::forward(const at::Tensor& ids, const at::Tensor& positions, const at::Tensor& slots,
                           const std::vector<PromptBatch>& prompts) {
  const ModelConfig& c = model_->config();
  const double eps = c.rms_norm_eps;
  const bool plus_one = c.norm_plus_one, gelu = c.hidden_act != "silu";
  const std::int64_t n = ids.size(0);
  at::Tensor h = model_->embed(ids.view({1, n})).view({n, c.hidden_size});
  at::Tensor pending;  // the MLP output still to be added to h (fused into the next norm)
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    Layer& l = layers_[i];
    const at::Tensor x = pending.defined() ? kernels::add_rms_norm(h, pending, l.input_norm, eps, plus_one)
                                           : kernels::rms_norm(h, l.input_norm, eps, plus_one);
    at::Tensor qkv = l.qkv.forward(x).contiguous();
    if (c.qk_norm) {
      kernels::rms_norm_heads_(qkv, 0, c.num_heads, c.head_dim, l.q_norm, eps, plus_one);
      kernels::rms_norm_heads_(qkv, c.num_heads, c.num_kv_heads, c.head_dim, l.k_norm, eps, plus_one);
    }
    const at::Tensor a = l.o.forward(attention(i, qkv, positions, slots, prompts));
    auto mlp = [&](const at::Tensor& y) { return l.down.forward(kernels::gated_activation(l.gate_up.forward(y).contiguous(), gelu)); };
    if (c.sandwich_norms) {
      h.add_(kernels::rms_norm(a, l.post_attention_norm, eps, plus_one));
      const at::Tensor m = mlp(kernels::rms_norm(h, l.pre_feedforward_norm, eps, plus_one));
      h.add_(kernels::rms_norm(m, l.post_feedforward_norm, eps, plus_one));
      pending = at::Tensor();
    } else {
      pending = mlp(kernels::add_rms_norm(h, a, l.post_attention_norm, eps, plus_one));
    }
  }
  if (pending.defined()) h.add_(pending);
  return h;
}

at::Tensor Engine::decode_logits(const at::Tensor& ids, const at::Tensor& positions, const at::Tensor& slots) {
  return model_->logits_from_hidden(model_->final_norm(forward(ids, positions, slots, /*prompts=*/{})));
}

at::Tensor Engine::prefill(std::int64_t slot, const std::vector<std::int64_t>& prompt) {
  return prefill(std::vector<std::int64_t>{slot}, std::vector<std::vector<std::int64_t>>{prompt}).view({-1});
}

at::Tensor Engine::prefill(const std::vector<std::int64_t>& slots, const std::vector<std::vector<std::int64_t>>& prompts) {
  if (prompts.empty() || slots.size() != prompts.size())
    throw Error(str_cat("engine: a prefill takes 1 or more prompts and one slot each (", prompts.size(), " prompts, ",
                        slots.size(), " slots)"));
  std::set<std::int64_t> seen;
  std::vector<PromptRows> rows;
  std::vector<std::int64_t> ids, positions, row_slots, last_rows;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    const std::int64_t slot = slots[i], T = static_cast<std::int64_t>(prompts[i].size());
    check_slot(slot, options_.max_batch, seen);
    if (T < 1 || T > cache_.length())
      throw Error(str_cat("engine: a prompt of ", T, " tokens does not fit the context of ", cache_.length(), " tokens"));
    for (std::int64_t id : prompts[i]) check_token_id(id, config().vocab_size);
    rows.push_back({static_cast<std::int64_t>(ids.size()), T});
    ids.insert(ids.end(), prompts[i].begin(), prompts[i].end());
    for (std::int64_t t = 0; t < T; ++t) positions.push_back(t), row_slots.push_back(slot);
    last_rows.push_back(static_cast<std::int64_t>(ids.size()) - 1);
  }
#if PATCHLM_HAVE_CUDA
  if (prompts.size() == 1 && model_->device().is_cuda() && options_.cuda_graphs) {
    const std::int64_t bucket = prefill_bucket(rows[0].length, std::min(options_.graph_prefill_tokens, cache_.length()));
    if (bucket > 0) return replay_prefill(bucket, slots[0], prompts[0]);
  }
#endif
  const at::Device device = model_->device();
  const at::Tensor h = forward(host_ids(ids, device), host_ids(positions, device), host_ids(row_slots, device),
                               prompt_batches(rows, device));
  return model_->logits_from_hidden(model_->final_norm(h.index_select(0, host_ids(last_rows, device))))
      .view({static_cast<std::int64_t>(prompts.size()), -1});
}

at::Tensor Engine::decode(const std::vector<std::int64_t>& tokens, const std::vector<std::int64_t>& positions,
                          const std::vector<std::int64_t>& slots) {
  const std::int64_t B = static_cast<std::int64_t>(tokens.size());
  if (B < 1 || B > options_.max_batch || positions.size() != tokens.size() || slots.size() != tokens.size())
    throw Error(str_cat("engine: a decode step takes 1 to ", options_.max_batch, " sequences, one position and slot each"));
  std::set<std::int64_t> seen;
  for (std::int64_t i = 0; i < B; ++i) {
    check_token_id(tokens[i], config().vocab_size);
    if (positions[i] < 0 || positions[i] >= cache_.length())
      throw Error(str_cat("engine: position ", positions[i], " is past the context of ", cache_.length(), " tokens"));
    check_slot(slots[i], options_.max_batch, seen);
  }
#if PATCHLM_HAVE_CUDA
  if (model_->device().is_cuda() && options_.cuda_graphs) {
    const std::int64_t bucket = batch_bucket(B);
    Graph& g = graph_for(bucket);
    std::vector<std::int64_t> host(static_cast<std::size_t>(3 * bucket), 0);
    for (std::int64_t b = 0; b < bucket; ++b) {  // padding rows: token 0 at position 0 of the spare slot
      host[b] = b < B ? tokens[b] : 0;
      host[bucket + b] = b < B ? positions[b] : 0;
      host[2 * bucket + b] = b < B ? slots[b] : cache_.spare_slot();
    }
    g.inputs.copy_(at::tensor(host, at::TensorOptions().dtype(at::kLong)).view({3, bucket}));
    g.graph.replay();
    return g.logits.narrow(0, 0, B);
  }
#endif
  const at::Device device = model_->device();
  return decode_logits(host_ids(tokens, device), host_ids(positions, device), host_ids(slots, device));
}

Engine::Graph& Engine::graph_for(std::int64_t bucket) {
  auto it = graphs_.find(bucket);
  if (it != graphs_.end()) return *it->second;
#if PATCHLM_HAVE_CUDA
  const at::Device device = model_->device();
  auto g = capture(
      [&](Graph& g) {
        g.inputs = at::zeros({3, bucket}, at::TensorOptions().dtype(at::kLong).device(device));
        g.inputs[2].fill_(cache_.spare_slot());
      },
      [&](const Graph& g) { return decode_logits(g.inputs[0], g.inputs[1], g.inputs[2]); }, /*private pool*/ {0, 0});
  return *graphs_.emplace(bucket, std::move(g)).first->second;
#else
  (void)bucket;
  throw Error("engine: CUDA graphs need a CUDA build");
#endif
}

#if PATCHLM_HAVE_CUDA
std::unique_ptr<Engine::Graph> Engine::capture(const std::function<void(Graph&)>& prepare,
                                               const std::function<at::Tensor(const Graph&)>& pass, c10::MempoolId_t pool) {
  auto g = std::make_unique<Graph>();
  const at::Device device = model_->device();
  c10::cuda::CUDAGuard device_guard(device);
  at::cuda::CUDAStream stream = at::cuda::getStreamFromPool(false, device.index());
  {
    at::cuda::CUDAStreamGuard stream_guard(stream);
    prepare(*g);
    // Warm-up outside the capture: lazy initialisation of libraries and of the hybrid kernels' workspaces for this
    // stream and row count; the inputs write only into the spare slot.
    for (int i = 0; i < 2; ++i) pass(*g);
    stream.synchronize();
    g->graph.capture_begin(pool);
    g->logits = pass(*g);
    g->graph.capture_end();
  }
  stream.synchronize();
  return g;
}

at::Tensor Engine::prefill_logits(const Graph& g, std::int64_t bucket) {
  PromptBatch whole;  // one prompt of `bucket` rows: causal, so its real rows never see the padding after them
  whole.length = bucket;
  const at::Tensor h = forward(g.inputs.narrow(0, 0, bucket), g.inputs.narrow(0, bucket, bucket),
                               g.inputs.narrow(0, 2 * bucket, bucket), {whole});
  return model_->logits_from_hidden(model_->final_norm(h.index_select(0, g.inputs.narrow(0, 3 * bucket, 1))));
}

Engine::Graph& Engine::prefill_graph_for(std::int64_t bucket) {
  auto it = prefill_graphs_.find(bucket);
  if (it != prefill_graphs_.end()) return *it->second;
  // One pool for all prefill graphs: they replay one at a time, and only their inputs and logits outlive a replay.
  if (prefill_pool_ == c10::MempoolId_t{0, 0}) prefill_pool_ = at::cuda::graph_pool_handle();
  const auto options = at::TensorOptions().dtype(at::kLong).device(model_->device());
  auto g = capture(
      [&](Graph& g) {
        g.inputs = at::zeros({3 * bucket + 1}, options);
        g.inputs.narrow(0, bucket, bucket).copy_(at::arange(bucket, options));
        g.inputs.narrow(0, 2 * bucket, bucket).fill_(cache_.spare_slot());
      },
      [&](const Graph& g) { return prefill_logits(g, bucket); }, prefill_pool_);
  return *prefill_graphs_.emplace(bucket, std::move(g)).first->second;
}

// Rows past the prompt: token 0 into the spare slot at their positions (below the context: bucket ≤ max_context).
at::Tensor Engine::replay_prefill(std::int64_t bucket, std::int64_t slot, const std::vector<std::int64_t>& prompt) {
  Graph& g = prefill_graph_for(bucket);
  const auto T = static_cast<std::int64_t>(prompt.size());
  std::vector<std::int64_t> host(static_cast<std::size_t>(3 * bucket + 1), 0);
  for (std::int64_t t = 0; t < bucket; ++t) {
    host[t] = t < T ? prompt[t] : 0;
    host[bucket + t] = t;
    host[2 * bucket + t] = t < T ? slot : cache_.spare_slot();
  }
  host[3 * bucket] = T - 1;
  g.inputs.copy_(at::tensor(host, at::TensorOptions().dtype(at::kLong)));
  g.graph.replay();
  return g.logits.clone();  // the next replay of this bucket rewrites g.logits
}
#endif

}  // namespace patchlm
