// The decoder's fused elementwise kernels (rope.h: apply_rope_fused, gated_activation.h) against the composed ATen
// forms they replace in mask learning: values and gradients, fp32 (tight) and bf16 (a bf16 rounding or two), the
// 16-byte and the one-element paths, contiguous and transposed layouts. CPU: the fused calls fall back exactly.
#include <gtest/gtest.h>

#include "model/gated_activation.h"
#include "model/rope.h"

namespace patchlm {
namespace {

struct Grads {
  at::Tensor y, dx;
};

template <typename F>
Grads value_and_grad(const at::Tensor& x, const at::Tensor& dy, F f) {
  const at::Tensor leaf = x.detach().clone().requires_grad_(true);
  const at::Tensor y = f(leaf);
  y.backward(dy);
  return {y.detach(), leaf.grad()};
}

void expect_close(const at::Tensor& a, const at::Tensor& b, double tol, const char* what) {
  const at::Tensor fa = a.to(at::kDouble).cpu(), fb = b.to(at::kDouble).cpu();
  const double err = (fa - fb).abs().max().item<double>(), scale = fb.abs().max().item<double>();
  EXPECT_LE(err, tol * scale) << what << ": max |diff| " << err << " at max |ref| " << scale;
}

// Tables as rope_cos_sin makes them, for positions 3.. and head dim d.
std::pair<at::Tensor, at::Tensor> tables(std::int64_t tokens, std::int64_t d, at::ScalarType dtype, at::Device dev) {
  const at::Tensor inv_freq = 1.0 / at::pow(10000.0, at::arange(0, d, 2, at::kFloat) / static_cast<double>(d));
  return rope_cos_sin(inv_freq.to(dev), at::arange(3, 3 + tokens, at::TensorOptions().dtype(at::kLong).device(dev)),
                      dtype);
}

TEST(FusedKernels, CpuFallsBackToTheComposedForms) {
  at::manual_seed(1);
  const at::Tensor x = at::randn({2, 3, 5, 8});
  const auto [c, s] = tables(5, 8, at::kFloat, at::kCPU);
  EXPECT_TRUE(at::equal(apply_rope_fused(x, c, s), apply_rope(x, c, s)));
  const at::Tensor g = at::randn({4, 7}), u = at::randn({4, 7});
  EXPECT_TRUE(at::equal(gated_activation(g, u, false, true), at::silu(g) * u));
  EXPECT_TRUE(at::equal(gated_activation(g, u, true, true), at::gelu(g, "tanh") * u));
}

TEST(FusedKernels, RopeMatchesTheComposedFormOnCuda) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  at::manual_seed(2);
  for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    for (const std::int64_t d : {64, 128, 6}) {
      for (const bool transposed : {false, true}) {
        SCOPED_TRACE(std::string(c10::toString(dtype)) + ", D " + std::to_string(d) + (transposed ? ", [B,T,H,D] view" : ""));
        const auto opts = at::TensorOptions().dtype(dtype).device(at::kCUDA);
        const std::int64_t B = 2, H = 3, T = 37;
        const at::Tensor x = transposed ? at::randn({B, T, H, d}, opts).transpose(1, 2) : at::randn({B, H, T, d}, opts);
        const at::Tensor dy = at::randn({B, H, T, d}, opts);
        const auto [c, s] = tables(T, d, dtype, at::kCUDA);
        // The oracle: the composed form in fp64.
        const auto cd = c.to(at::kDouble), sd = s.to(at::kDouble);
        const Grads ref = value_and_grad(x.to(at::kDouble), dy.to(at::kDouble),
                                         [&](const at::Tensor& t) { return apply_rope(t, cd, sd); });
        const Grads got = value_and_grad(x, dy, [&](const at::Tensor& t) { return apply_rope_fused(t, c, s); });
        EXPECT_EQ(got.y.strides(), x.strides());
        const double tol = dtype == at::kFloat ? 1e-6 : 8e-3;
        expect_close(got.y, ref.y, tol, "y");
        expect_close(got.dx, ref.dx, tol, "dx");
      }
    }
  }
}

TEST(FusedKernels, GatedActivationMatchesTheComposedFormOnCuda) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  at::manual_seed(3);
  for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    for (const bool gelu : {false, true}) {
      for (const std::int64_t n : {4096 * 3, 1001}) {  // whole 16-byte packs, and a tail
        SCOPED_TRACE(std::string(c10::toString(dtype)) + (gelu ? ", GELU-tanh" : ", SiLU") + ", n " + std::to_string(n));
        const auto opts = at::TensorOptions().dtype(dtype).device(at::kCUDA);
        const at::Tensor g = at::randn({n}, opts) * 3, u = at::randn({n}, opts), dh = at::randn({n}, opts);
        const at::Tensor both = at::stack({g, u});
        const auto f_ref = [&](const at::Tensor& t) { return gated_activation(t[0], t[1], gelu, false); };
        const auto f_got = [&](const at::Tensor& t) { return gated_activation(t[0], t[1], gelu, true); };
        const Grads ref = value_and_grad(both.to(at::kDouble), dh.to(at::kDouble), f_ref);
        const Grads got = value_and_grad(both, dh, f_got);
        const double tol = dtype == at::kFloat ? 2e-6 : 8e-3;
        expect_close(got.y, ref.y, tol, "h");
        expect_close(got.dx[0], ref.dx[0], tol, "dgate");
        expect_close(got.dx[1], ref.dx[1], tol, "dup");
      }
    }
  }
}

}  // namespace
}  // namespace patchlm
