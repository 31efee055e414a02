#include "model/rope.h"

#include <torch/autograd.h>

#include <cmath>

#include "model/fused_kernels.h"

#if PATCHLM_MODEL_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace patchlm {

at::Tensor rope_inverse_frequencies(const RopeConfig& rope, std::int64_t head_dim) {
  at::Tensor exponent = at::arange(0, head_dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(head_dim);
  at::Tensor inv_freq = 1.0 / at::pow(rope.theta, exponent);
  if (rope.type == "linear") return inv_freq / rope.factor;
  if (rope.type != "llama3") return inv_freq;
  // LLaMA-3.1: long wavelengths are divided by `factor`, short ones kept, the band between interpolated.
  const double low_wavelen = rope.original_max_position / rope.low_freq_factor;
  const double high_wavelen = rope.original_max_position / rope.high_freq_factor;
  at::Tensor wavelen = 2 * M_PI / inv_freq;
  at::Tensor scaled = at::where(wavelen > low_wavelen, inv_freq / rope.factor, inv_freq);
  at::Tensor smooth = (rope.original_max_position / wavelen - rope.low_freq_factor) /
                      (rope.high_freq_factor - rope.low_freq_factor);
  at::Tensor smoothed = (1 - smooth) * scaled / rope.factor + smooth * scaled;
  at::Tensor medium = at::logical_not(wavelen < high_wavelen) * at::logical_not(wavelen > low_wavelen);
  return at::where(medium, smoothed, scaled);
}

std::pair<at::Tensor, at::Tensor> rope_cos_sin(const at::Tensor& inv_freq, const at::Tensor& positions,
                                               at::ScalarType dtype) {
  at::Tensor freqs = at::outer(positions.to(at::kFloat), inv_freq.to(positions.device()));  // [T, D/2]
  at::Tensor emb = at::cat({freqs, freqs}, -1);
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const std::int64_t half = x.size(-1) / 2;
  at::Tensor x1 = x.narrow(-1, 0, half);
  at::Tensor x2 = x.narrow(-1, half, half);
  at::Tensor rotated = at::cat({-x2, x1}, -1);
  return x * cos + rotated * sin;
}

namespace {

bool fused_rope_applies(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
#if PATCHLM_MODEL_CUDA
  const at::ScalarType t = x.scalar_type();
  return x.is_cuda() && (t == at::kBFloat16 || t == at::kFloat) && x.dim() == 4 && x.size(3) % 2 == 0 &&
         x.stride(3) == 1 && cos.dim() == 2 && cos.sizes() == sin.sizes() && cos.size(0) == x.size(2) &&
         cos.size(1) == x.size(3) && cos.scalar_type() == t && sin.scalar_type() == t && cos.device() == x.device() &&
         sin.device() == x.device();
#else
  (void)x, (void)cos, (void)sin;
  return false;
#endif
}

// y = rotate(x) (or its transpose) into a tensor of x's layout.
at::Tensor rope_kernel(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, bool transpose) {
  at::Tensor y = at::empty_like(x);  // dense x: the same strides
#if PATCHLM_MODEL_CUDA
  const at::Tensor c = cos.contiguous(), s = sin.contiguous();
  RopeLaunch k;
  k.x = x.const_data_ptr();
  k.y = y.mutable_data_ptr();
  k.cos = c.const_data_ptr();
  k.sin = s.const_data_ptr();
  k.batch = x.size(0);
  k.heads = x.size(1);
  k.tokens = x.size(2);
  k.head_dim = x.size(3);
  for (int d = 0; d < 3; ++d) {
    k.x_strides[d] = x.stride(d);
    k.y_strides[d] = y.stride(d);
  }
  k.bf16 = x.scalar_type() == at::kBFloat16;
  k.transpose = transpose;
  k.cuda_stream = at::cuda::getCurrentCUDAStream(x.get_device()).stream();
  rope_cuda(k);
#else
  (void)cos, (void)sin, (void)transpose;
#endif
  return y;
}

struct FusedRope : public torch::autograd::Function<FusedRope> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& cos,
                            const at::Tensor& sin) {
    ctx->save_for_backward({cos, sin});
    return rope_kernel(x, cos, sin, false);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    at::Tensor g = grad_out.at(0);
    if (g.stride(3) != 1) g = g.contiguous();
    return {rope_kernel(g, saved[0], saved[1], true), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor apply_rope_fused(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  if (!fused_rope_applies(x, cos, sin)) return apply_rope(x, cos, sin);
  return FusedRope::apply(x, cos.detach(), sin.detach());
}

}  // namespace patchlm
