// learn/logit_adamw: fp32 updates equal torch::optim::AdamW's (same formula, same order); bf16 state rounds
// stochastically — unbiased on average, a function of (seed, step, tensor), so repeated runs agree bit for bit;
// non-finite gradient elements are skipped and reported; the CUDA kernel (where a device is present) agrees with
// the CPU kernel.
#include <gtest/gtest.h>
#include <torch/optim/adamw.h>

#include "learn/logit_adamw.h"

namespace patchlm {
namespace {

LearnOptimizer adam_options() {
  LearnOptimizer o;
  o.beta1 = 0.9;
  o.beta2 = 0.95;
  o.eps = 1e-8;
  return o;
}

TEST(LogitAdamW, Fp32MatchesTorchAdamW) {
  at::manual_seed(3);
  const at::Tensor start = at::randn({64, 6}) * 0.1;
  at::Tensor ours = start.clone(), theirs = start.clone().requires_grad_(true);
  LogitAdamW opt(adam_options(), 0.1, at::kFloat, 7);
  opt.add(ours);
  torch::optim::AdamW ref({theirs}, torch::optim::AdamWOptions(1e-2).betas({0.9, 0.95}).eps(1e-8).weight_decay(0.1));
  for (int step = 1; step <= 20; ++step) {
    const at::Tensor grad = at::randn({64, 6});
    const double lr = 1e-2 * (1.0 - step / 40.0);
    opt.update(0, grad, lr, step);
    for (auto& group : ref.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    theirs.mutable_grad() = grad.clone();
    ref.step();
  }
  EXPECT_TRUE(at::allclose(ours, theirs.detach(), 1e-6, 1e-7)) << (ours - theirs).abs().max().item<float>();
  EXPECT_FALSE(opt.take_non_finite());
}

TEST(LogitAdamW, Bf16StateRoundsStochasticallyAndReproducibly) {
  // A tiny update to a bf16 logit: round to nearest would lose it (|Δ| ≪ half an ulp), stochastic rounding keeps
  // it on average.
  const std::int64_t n = 1 << 16;
  auto run = [&] {
    at::Tensor p = at::full({n}, 1.0f).to(at::kBFloat16);
    LogitAdamW opt(adam_options(), 0.0, at::kBFloat16, 11);
    opt.add(p);
    opt.update(0, at::ones({n}), 1e-4, 1);  // Δ = −lr·m̂/(√v̂ + ε) = −1e-4 per element; bf16 ulp at 1 is 2⁻⁷
    return p;
  };
  const at::Tensor a = run(), b = run();
  EXPECT_TRUE(at::equal(a, b));
  const double mean = a.to(at::kDouble).mean().item<double>();
  EXPECT_NEAR(mean, 1.0 - 1e-4, 2e-5);  // the sampling error of 2¹⁶ roundings is ~3e-6
  EXPECT_GT((a != at::full({n}, 1.0f).to(at::kBFloat16)).sum().item<std::int64_t>(), 0);
}

TEST(LogitAdamW, NonFiniteGradientElementsAreSkippedAndReported) {
  at::Tensor p = at::zeros({8});
  LogitAdamW opt(adam_options(), 0.0, at::kFloat, 1);
  opt.add(p);
  at::Tensor grad = at::ones({8});
  grad[2] = std::numeric_limits<float>::quiet_NaN();
  grad[5] = std::numeric_limits<float>::infinity();
  opt.update(0, grad, 1e-2, 1);
  EXPECT_TRUE(opt.take_non_finite());
  EXPECT_FALSE(opt.take_non_finite());  // taken
  EXPECT_EQ(p[2].item<float>(), 0.f);
  EXPECT_EQ(p[5].item<float>(), 0.f);
  EXPECT_EQ(opt.exp_avg(0)[2].item<float>(), 0.f);
  EXPECT_NEAR(p[0].item<float>(), -1e-2, 1e-6);
}

TEST(LogitAdamW, CudaKernelMatchesCpu) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    at::manual_seed(5);
    const at::Tensor start = (at::randn({1003, 6}) * 0.05).to(dtype);  // 752 packs of 8 and a tail of 2
    at::Tensor cpu = start.clone(), gpu = start.to(at::kCUDA);
    LogitAdamW on_cpu(adam_options(), 0.05, dtype, 9), on_gpu(adam_options(), 0.05, dtype, 9);
    on_cpu.add(cpu);
    on_gpu.add(gpu);
    for (int step = 1; step <= 5; ++step) {
      const at::Tensor grad = at::randn({1003, 6});
      on_cpu.update(0, grad, 1e-3, step);
      on_gpu.update(0, grad.to(at::kCUDA), 1e-3, step);
    }
    // fp32: FMA contraction on the device; bf16: the same rounding bits, an ulp apart at most where fp32 differed.
    const double ulp = dtype == at::kBFloat16 ? 1.0 / 128 : 1e-6;
    EXPECT_TRUE(at::allclose(gpu.cpu().to(at::kFloat), cpu.to(at::kFloat), ulp, 1e-6)) << at::toString(dtype);
    EXPECT_FALSE(on_gpu.take_non_finite());
  }
}

}  // namespace
}  // namespace patchlm
