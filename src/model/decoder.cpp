#include "model/decoder.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "model/gated_activation.h"
#include "model/rope.h"
#include "util/error.h"

namespace patchlm {
namespace {

std::string shape_text(at::IntArrayRef s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// Fetches a tensor by HF name, checks its shape, converts it for compute.
class TensorTable {
 public:
  TensorTable(const Checkpoint& c, at::ScalarType dtype, at::Device device) : c_(c), dtype_(dtype), device_(device) {}

  at::Tensor get(const std::string& name, std::vector<std::int64_t> shape) const {
    used_.insert(name);
    const at::Tensor t = c_.tensor(name);  // a packed weight unpacked, one at a time
    if (t.sizes() != at::IntArrayRef(shape)) {
      throw Error(str_cat(c_.source.string(), ": tensor ", in_quotes(name), " has shape ", shape_text(t.sizes()),
                          " but the config needs ", shape_text(shape)));
    }
    return t.to(device_, dtype_).contiguous();
  }
  at::Tensor optional(const std::string& name, std::vector<std::int64_t> shape) const {
    return c_.has(name) ? get(name, std::move(shape)) : at::Tensor();
  }
  // A name the builder takes in a form of its own (a packed weight on the kernel).
  void mark_used(const std::string& name) const { used_.insert(name); }

  // Every tensor of the checkpoint is one the config accounts for, or a known leftover: anything else means the
  // config does not describe these weights (e.g. num_hidden_layers smaller than the layers stored).
  void check_all_used() const {
    auto explained = [&](const std::string& name) {
      const bool tied_head = name == "lm_head.weight" && c_.config.tie_word_embeddings;
      const bool leftover = name.size() >= 19 && name.compare(name.size() - 19, 19, "rotary_emb.inv_freq") == 0;
      return tied_head || leftover || name.rfind("vision_tower.", 0) == 0 || name.rfind("multi_modal_projector.", 0) == 0;
    };
    std::size_t unused = 0;
    std::string first;
    for (const auto& [name, t] : c_.tensors)
      if (!used_.count(name) && !explained(name) && unused++ == 0) first = name;
    for (const auto& [name, p] : c_.hybrid)
      if (!used_.count(name) && unused++ == 0) first = name;
    if (unused > 0)
      throw Error(str_cat(c_.source.string(), ": ", unused, " tensor(s) the config does not account for, e.g. ",
                          in_quotes(first), " (does num_hidden_layers or the architecture match the weights?)"));
  }

 private:
  mutable std::set<std::string> used_;
  const Checkpoint& c_;
  at::ScalarType dtype_;
  at::Device device_;
};

}  // namespace

Decoder::Decoder(const Checkpoint& ckpt, at::ScalarType dtype, at::Device device, const ProjBuilder& build)
    : config_(ckpt.config), dtype_(dtype), device_(device) {
  const ModelConfig& c = config_;
  TensorTable t(ckpt, dtype, device);
  const std::int64_t H = c.hidden_size, D = c.head_dim, I = c.intermediate_size;
  embed_tokens_ = t.get("model.embed_tokens.weight", {c.vocab_size, H});
  final_norm_ = t.get("model.norm.weight", {H});
  lm_head_ = c.tie_word_embeddings ? embed_tokens_ : t.get("lm_head.weight", {c.vocab_size, H});
  for (std::int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    Block b;
    b.input_norm = t.get(p + "input_layernorm.weight", {H});
    b.post_attention_norm = t.get(p + "post_attention_layernorm.weight", {H});
    if (c.sandwich_norms) {
      b.pre_feedforward_norm = t.get(p + "pre_feedforward_layernorm.weight", {H});
      b.post_feedforward_norm = t.get(p + "post_feedforward_layernorm.weight", {H});
    }
    if (c.qk_norm) {
      b.q_norm = t.get(p + "self_attn.q_norm.weight", {D});
      b.k_norm = t.get(p + "self_attn.k_norm.weight", {D});
    }
    auto proj = [&](const std::string& name, std::int64_t out, std::int64_t in, bool bias) {
      at::Tensor b = bias ? t.get(p + name + ".bias", {out}) : t.optional(p + name + ".bias", {out});
      if (build) {
        if (auto strategy = build(p + name + ".weight", out, in)) {
          t.mark_used(p + name + ".weight");
          // The strategy holds the weight in its own form: the Proj keeps only its shape.
          Proj packed(p + name, at::empty({out, in}, at::TensorOptions().dtype(dtype).device(at::kMeta)), b);
          packed.set_strategy(std::move(strategy));
          return packed;
        }
      }
      return Proj(p + name, t.get(p + name + ".weight", {out, in}), b);
    };
    // [out, in] and whether a bias is required, per projection in kProjectionNames order.
    const std::array<std::tuple<std::int64_t, std::int64_t, bool>, kProjectionNames.size()> shapes = {{
        {c.num_heads * D, H, c.attention_bias}, {c.num_kv_heads * D, H, c.attention_bias},
        {c.num_kv_heads * D, H, c.attention_bias}, {H, c.num_heads * D, false},
        {I, H, c.mlp_bias}, {I, H, c.mlp_bias}, {H, I, c.mlp_bias}}};
    auto projs = b.projections();
    for (std::size_t j = 0; j < projs.size(); ++j) {
      const auto [out, in, bias] = shapes[j];
      *projs[j] = proj(std::string(kProjectionNames[j]), out, in, bias);
    }
    blocks_.push_back(std::move(b));
  }
  t.check_all_used();
  inv_freq_global_ = rope_inverse_frequencies(c.rope, D).to(device);
  inv_freq_local_ = rope_inverse_frequencies(c.rope_local, D).to(device);
}

std::vector<Proj*> Decoder::projections() {
  std::vector<Proj*> out;
  for (Block& b : blocks_) {
    for (Proj* p : b.projections()) out.push_back(p);
  }
  return out;
}

at::Tensor Decoder::rms_norm(const at::Tensor& x, const at::Tensor& weight) const {
  if (fused_kernels_ && x.is_cuda() && !config_.norm_plus_one && weight.scalar_type() == x.scalar_type()) {
    return std::get<0>(at::_fused_rms_norm(x, {x.size(-1)}, weight, config_.rms_norm_eps));
  }
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor normed = xf * at::rsqrt(xf.pow(2).mean(-1, true) + config_.rms_norm_eps);
  if (config_.norm_plus_one) return (normed * (1.0 + weight.to(at::kFloat))).to(x.scalar_type());
  return weight * normed.to(x.scalar_type());
}

at::Tensor Decoder::embed(const at::Tensor& input_ids) const {
  at::Tensor h = at::embedding(embed_tokens_, input_ids.to(device_));
  if (config_.scale_embeddings) {
    // HF keeps the scale as a float32 tensor and casts it to the weight dtype before multiplying; the same rounded
    // value as a scalar (no host-to-device copy, so a CUDA graph can capture this).
    const double scale =
        at::scalar_tensor(std::sqrt(static_cast<double>(config_.hidden_size)), at::kFloat).to(dtype_).item<double>();
    h = h * scale;
  }
  return h;
}

Positions Decoder::positions(std::int64_t start, std::int64_t count) const {
  Positions p;
  p.ids = at::arange(start, start + count, at::TensorOptions().dtype(at::kLong).device(device_));
  std::tie(p.cos_global, p.sin_global) = rope_cos_sin(inv_freq_global_, p.ids, dtype_);
  // Only sliding-window layers read the local tables: skip them for models without such layers.
  if (std::find(config_.sliding_layers.begin(), config_.sliding_layers.end(), true) != config_.sliding_layers.end()) {
    std::tie(p.cos_local, p.sin_local) = rope_cos_sin(inv_freq_local_, p.ids, dtype_);
  }
  return p;
}

at::Tensor Decoder::attention(std::size_t layer, const at::Tensor& x, const Positions& positions,
                              KvCache* cache) const {
  const Block& b = blocks_[layer];
  const ModelConfig& c = config_;
  const std::int64_t B = x.size(0), T = x.size(1), D = c.head_dim;
  at::Tensor q = b.q.forward(x).view({B, T, c.num_heads, D}).transpose(1, 2);
  at::Tensor k = b.k.forward(x).view({B, T, c.num_kv_heads, D}).transpose(1, 2);
  at::Tensor v = b.v.forward(x).view({B, T, c.num_kv_heads, D}).transpose(1, 2);
  if (c.qk_norm) {
    q = rms_norm(q, b.q_norm);
    k = rms_norm(k, b.k_norm);
  }
  const bool sliding = c.sliding_layers[layer];
  const at::Tensor& cos = sliding ? positions.cos_local : positions.cos_global;
  const at::Tensor& sin = sliding ? positions.sin_local : positions.sin_global;
  const auto rope = fused_kernels_ ? &apply_rope_fused : &apply_rope;
  q = rope(q, cos, sin);
  k = rope(k, cos, sin);
  if (cache != nullptr) {
    if (cache->keys.size() <= layer) {
      cache->keys.resize(blocks_.size());
      cache->values.resize(blocks_.size());
    }
    if (cache->keys[layer].defined()) {
      k = at::cat({cache->keys[layer], k}, 2);
      v = at::cat({cache->values[layer], v}, 2);
    }
    cache->keys[layer] = k;
    cache->values[layer] = v;
  }
  const std::int64_t S = k.size(2);  // keys: all cached positions + the new ones
  const bool gqa = c.num_heads != c.num_kv_heads;
  const bool window_binds = sliding && c.sliding_window > 0 && c.sliding_window < S;
  at::Tensor out;
  if (S == T && !window_binds) {  // plain causal attention: the fused kernel needs no mask tensor
    out = at::scaled_dot_product_attention(q, k, v, {}, 0.0, /*is_causal=*/true, c.attention_scale(), gqa);
  } else {
    // Query at absolute position p sees keys at positions <= p (and > p - window on sliding layers).
    at::Tensor key_pos = at::arange(S, at::TensorOptions().dtype(at::kLong).device(device_));  // cache starts at 0
    at::Tensor qp = positions.ids.unsqueeze(1), kp = key_pos.unsqueeze(0);
    at::Tensor allowed = kp <= qp;
    if (window_binds) allowed = at::logical_and(allowed, kp > qp - c.sliding_window);
    out = at::scaled_dot_product_attention(q, k, v, allowed, 0.0, false, c.attention_scale(), gqa);
  }
  out = out.transpose(1, 2).reshape({B, T, c.num_heads * D});
  return b.o.forward(out);
}

at::Tensor Decoder::mlp(const Block& b, const at::Tensor& x) const {
  const at::Tensor gate = b.gate.forward(x);
  return b.down.forward(gated_activation(gate, b.up.forward(x), config_.hidden_act != "silu", fused_kernels_));
}

at::Tensor Decoder::block_forward(std::size_t layer, const at::Tensor& h, const Positions& positions,
                                  KvCache* cache) const {
  const Block& b = blocks_[layer];
  at::Tensor a = attention(layer, rms_norm(h, b.input_norm), positions, cache);
  if (config_.sandwich_norms) {
    at::Tensor h2 = h + rms_norm(a, b.post_attention_norm);
    at::Tensor m = mlp(b, rms_norm(h2, b.pre_feedforward_norm));
    return h2 + rms_norm(m, b.post_feedforward_norm);
  }
  at::Tensor h2 = h + a;
  return h2 + mlp(b, rms_norm(h2, b.post_attention_norm));
}

at::Tensor Decoder::hidden_states(const at::Tensor& input_ids, KvCache* cache, const BlockRunner& run) const {
  if (input_ids.dim() != 2) throw Error(str_cat("input_ids must be [batch, tokens], got ", input_ids.dim(), " dims"));
  const std::int64_t start = cache ? cache->length : 0;
  const std::int64_t T = input_ids.size(1);
  if (input_ids.numel() > 0) {
    std::int64_t lo = input_ids.min().item<std::int64_t>(), hi = input_ids.max().item<std::int64_t>();
    if (lo < 0 || hi >= config_.vocab_size) {
      throw Error(str_cat("token id ", lo < 0 ? lo : hi, " is outside the vocabulary [0, ", config_.vocab_size, ")"));
    }
  }
  const Positions pos = positions(start, T);
  at::Tensor h = embed(input_ids);
  for (std::size_t i = 0; i < blocks_.size(); ++i) {
    if (!run) {
      h = block_forward(i, h, pos, cache);
      continue;
    }
    h = run(i, h, [this, i, pos, cache](const at::Tensor& x) { return block_forward(i, x, pos, cache); });
  }
  if (cache) cache->length += T;
  return rms_norm(h, final_norm_);
}

at::Tensor Decoder::lm_head_logits(const at::Tensor& hidden) const { return at::linear(hidden, lm_head_); }

at::Tensor Decoder::logits_from_hidden(const at::Tensor& hidden) const {
  at::Tensor logits = lm_head_logits(hidden).to(at::kFloat);
  if (config_.final_logit_softcapping > 0) {
    logits = at::tanh(logits / config_.final_logit_softcapping) * config_.final_logit_softcapping;
  }
  return logits;
}

at::Tensor Decoder::forward(const at::Tensor& input_ids, KvCache* cache) const {
  return logits_from_hidden(hidden_states(input_ids, cache));
}

}  // namespace patchlm
