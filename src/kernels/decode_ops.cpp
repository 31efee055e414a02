#include "kernels/decode_ops.h"

#include <limits>

#include "util/error.h"

#if PATCHLM_HAVE_CUDA
#include <ATen/cuda/CUDAContext.h>

#include "kernels/decode_kernels.h"
#endif

namespace patchlm::kernels {
namespace {

// The fused kernel runs on contiguous bf16 CUDA tensors; anything else takes the reference.
bool on_kernel(const at::Tensor& t) {
#if PATCHLM_HAVE_CUDA
  return t.is_cuda() && t.scalar_type() == at::kBFloat16 && t.is_contiguous();
#else
  (void)t;
  return false;
#endif
}

#if PATCHLM_HAVE_CUDA
void* stream_of(const at::Tensor& t) { return at::cuda::getCurrentCUDAStream(t.get_device()).stream(); }
void check(const std::string& error, const char* op) {
  if (!error.empty()) throw Error(str_cat(op, ": ", error));
}
#endif

at::Tensor reference_rms_norm(const at::Tensor& x, const at::Tensor& w, double eps, bool plus_one) {
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor normed = xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps);
  if (plus_one) return (normed * (1.0 + w.to(at::kFloat))).to(x.scalar_type());
  return w * normed.to(x.scalar_type());
}

at::Tensor rotate(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const std::int64_t half = x.size(-1) / 2;
  const at::Tensor rotated = at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * cos + rotated * sin;
}

}  // namespace

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps, bool plus_one) {
#if PATCHLM_HAVE_CUDA
  if (on_kernel(x) && on_kernel(weight)) {
    at::Tensor y = at::empty_like(x);
    RmsNormArgs a;
    a.h = const_cast<void*>(x.data_ptr());
    a.weight = weight.data_ptr();
    a.y = y.data_ptr();
    a.layout = {static_cast<int>(x.numel() / x.size(-1)), static_cast<int>(x.size(-1)), 1, x.size(-1)};
    a.eps = static_cast<float>(eps);
    a.plus_one = plus_one;
    check(kernels::rms_norm(a, stream_of(x)), "rms_norm");
    return y;
  }
#endif
  return reference_rms_norm(x, weight, eps, plus_one);
}

at::Tensor add_rms_norm(at::Tensor& h, const at::Tensor& add, const at::Tensor& weight, double eps, bool plus_one) {
#if PATCHLM_HAVE_CUDA
  if (on_kernel(h) && on_kernel(add) && on_kernel(weight)) {
    at::Tensor y = at::empty_like(h);
    RmsNormArgs a;
    a.h = h.data_ptr();
    a.add = add.data_ptr();
    a.weight = weight.data_ptr();
    a.y = y.data_ptr();
    a.layout = {static_cast<int>(h.numel() / h.size(-1)), static_cast<int>(h.size(-1)), 1, h.size(-1)};
    a.eps = static_cast<float>(eps);
    a.plus_one = plus_one;
    check(kernels::rms_norm(a, stream_of(h)), "add_rms_norm");
    return y;
  }
#endif
  h.add_(add);
  return reference_rms_norm(h, weight, eps, plus_one);
}

void rms_norm_heads_(at::Tensor& qkv, std::int64_t first_head, std::int64_t heads, std::int64_t head_dim,
                     const at::Tensor& weight, double eps, bool plus_one) {
  const std::int64_t n = qkv.size(0), row = qkv.size(1);
#if PATCHLM_HAVE_CUDA
  if (on_kernel(qkv) && on_kernel(weight)) {
    RmsNormArgs a;
    a.h = static_cast<at::BFloat16*>(qkv.data_ptr()) + first_head * head_dim;
    a.weight = weight.data_ptr();
    a.y = a.h;
    a.layout = {static_cast<int>(n * heads), static_cast<int>(head_dim), static_cast<int>(heads), row};
    a.eps = static_cast<float>(eps);
    a.plus_one = plus_one;
    check(kernels::rms_norm(a, stream_of(qkv)), "rms_norm (heads)");
    return;
  }
#endif
  at::Tensor view = qkv.narrow(1, first_head * head_dim, heads * head_dim).view({n, heads, head_dim});
  view.copy_(reference_rms_norm(view, weight, eps, plus_one));
}

void rope_and_cache_(at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& positions,
                     const at::Tensor& slots, at::Tensor& k_cache, at::Tensor& v_cache, std::int64_t heads,
                     std::int64_t kv_heads) {
  const std::int64_t n = qkv.size(0), D = k_cache.size(3);
#if PATCHLM_HAVE_CUDA
  if (on_kernel(qkv) && on_kernel(k_cache) && on_kernel(v_cache)) {
    RopeCacheArgs a;
    a.qkv = qkv.data_ptr();
    a.cos = cos.data_ptr<float>();
    a.sin = sin.data_ptr<float>();
    a.positions = positions.data_ptr<std::int64_t>();
    a.slots = slots.data_ptr<std::int64_t>();
    a.k_cache = k_cache.data_ptr();
    a.v_cache = v_cache.data_ptr();
    a.n = static_cast<int>(n);
    a.heads = static_cast<int>(heads);
    a.kv_heads = static_cast<int>(kv_heads);
    a.head_dim = static_cast<int>(D);
    a.cache_len = k_cache.size(2);
    check(kernels::rope_and_cache(a, stream_of(qkv)), "rope_and_cache");
    return;
  }
#endif
  const at::Tensor c = cos.index_select(0, positions).to(qkv.scalar_type()).unsqueeze(1);  // [n, 1, D]
  const at::Tensor s = sin.index_select(0, positions).to(qkv.scalar_type()).unsqueeze(1);
  at::Tensor q = qkv.narrow(1, 0, heads * D).view({n, heads, D});
  at::Tensor k = qkv.narrow(1, heads * D, kv_heads * D).view({n, kv_heads, D});
  const at::Tensor v = qkv.narrow(1, (heads + kv_heads) * D, kv_heads * D).view({n, kv_heads, D});
  q.copy_(rotate(q, c, s));
  k.copy_(rotate(k, c, s));
  using at::indexing::Slice;
  k_cache.index_put_({slots, Slice(), positions}, k);
  v_cache.index_put_({slots, Slice(), positions}, v);
}

at::Tensor decode_attention(const at::Tensor& qkv, const at::Tensor& k_cache, const at::Tensor& v_cache,
                            const at::Tensor& positions, const at::Tensor& slots, std::int64_t heads,
                            std::int64_t kv_heads, double scale, std::int64_t window) {
  const std::int64_t B = positions.size(0), D = k_cache.size(3), S = k_cache.size(2);
#if PATCHLM_HAVE_CUDA
  if (on_kernel(qkv) && on_kernel(k_cache) && on_kernel(v_cache) && decode_attention_supported(static_cast<int>(D))) {
    at::Tensor out = at::empty({B, heads * D}, qkv.options());
    DecodeAttentionArgs a;
    a.qkv = qkv.data_ptr();
    a.k_cache = k_cache.data_ptr();
    a.v_cache = v_cache.data_ptr();
    a.positions = positions.data_ptr<std::int64_t>();
    a.slots = slots.data_ptr<std::int64_t>();
    a.out = out.data_ptr();
    a.batch = static_cast<int>(B);
    a.heads = static_cast<int>(heads);
    a.kv_heads = static_cast<int>(kv_heads);
    a.head_dim = static_cast<int>(D);
    a.cache_len = S;
    a.scale = static_cast<float>(scale);
    a.window = static_cast<int>(window);
    check(kernels::decode_attention(a, stream_of(qkv)), "decode_attention");
    return out;
  }
#endif
  // Reference: scaled_dot_product_attention over the sequences' slots with a mask of each sequence's keys.
  const at::Tensor q = qkv.narrow(1, 0, heads * D).view({B, heads, 1, D});
  const at::Tensor keys = k_cache.index_select(0, slots), values = v_cache.index_select(0, slots);
  const at::Tensor key_pos = at::arange(S, positions.options()).view({1, S});
  const at::Tensor pos = positions.view({B, 1});
  at::Tensor allowed = key_pos <= pos;
  if (window > 0) allowed = at::logical_and(allowed, key_pos > pos - window);
  const at::Tensor out = at::scaled_dot_product_attention(q, keys, values, allowed.view({B, 1, 1, S}), 0.0, false,
                                                          scale, heads != kv_heads);
  return out.reshape({B, heads * D});
}

at::Tensor gated_activation(const at::Tensor& gate_up, bool gelu) {
  const std::int64_t n = gate_up.size(0), inter = gate_up.size(1) / 2;
#if PATCHLM_HAVE_CUDA
  if (on_kernel(gate_up)) {
    at::Tensor out = at::empty({n, inter}, gate_up.options());
    check(kernels::gated_activation(gate_up.data_ptr(), out.data_ptr(), static_cast<int>(n), static_cast<int>(inter),
                                    gelu, stream_of(gate_up)),
          "gated_activation");
    return out;
  }
#endif
  const at::Tensor gate = gate_up.narrow(1, 0, inter), up = gate_up.narrow(1, inter, inter);
  return (gelu ? at::gelu(gate, "tanh") : at::silu(gate)) * up;
}

}  // namespace patchlm::kernels
