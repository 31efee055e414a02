// learn/logit_adamw: fp32 updates equal torch::optim::AdamW's (same formula, same order); bf16 state rounds
// stochastically — unbiased on average, a function of (seed, step, tensor), so repeated runs agree bit for bit;
// non-finite gradient elements are skipped and reported; the CUDA kernel (where a device is present) agrees with
// the CPU kernel.
#include <gtest/gtest.h>
#include <torch/optim/adamw.h>

#include "learn/logit_adamw.h"
#include "util/error.h"

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

TEST(LogitAdamW, ASliceUpdatesAsTheWholeWhereverItsBoundariesFall) {
  // The CPU update runs 8 elements per instruction with a scalar loop for the rest: slices that start and end
  // inside a vector of the whole put every element in another lane or in the scalar tail, so equality bit for bit
  // here is the vector path computing what the scalar formula computes (what sharded learning relies on).
  const std::int64_t n = 1003;
  const std::int64_t cuts[] = {0, 5, 13, 40, 41, 600, n};
  for (const at::ScalarType param_dtype : {at::kFloat, at::kBFloat16}) {
    for (const at::ScalarType state_dtype : {at::kFloat, at::kBFloat16}) {
      at::manual_seed(21);
      const at::Tensor start = (at::randn({n}) * 0.05).to(param_dtype);
      std::vector<at::Tensor> grads;
      for (int step = 0; step < 3; ++step) {
        at::Tensor g = at::randn({n});
        g[7 + step] = std::numeric_limits<float>::quiet_NaN();
        g[500 + step] = -std::numeric_limits<float>::infinity();
        grads.push_back(g);
      }
      at::Tensor whole = start.clone();
      LogitAdamW one(adam_options(), 0.05, state_dtype, 4);
      one.add(whole);
      for (int step = 1; step <= 3; ++step) one.update(0, grads[step - 1], 1e-3, step);
      for (std::size_t c = 0; c + 1 < std::size(cuts); ++c) {
        const std::int64_t b = cuts[c], e = cuts[c + 1];
        at::Tensor part = start.slice(0, b, e).clone();
        LogitAdamW sliced(adam_options(), 0.05, state_dtype, 4);
        sliced.add(part, b);
        for (int step = 1; step <= 3; ++step) sliced.update(0, grads[step - 1].slice(0, b, e), 1e-3, step);
        const std::string where = str_cat(c10::toString(param_dtype), "/", c10::toString(state_dtype), " [", b, ", ", e, ")");
        EXPECT_TRUE(at::equal(part, whole.slice(0, b, e))) << where;
        EXPECT_TRUE(at::equal(sliced.exp_avg(0), one.exp_avg(0).slice(0, b, e))) << where;
        EXPECT_TRUE(at::equal(sliced.exp_avg_sq(0), one.exp_avg_sq(0).slice(0, b, e))) << where;
      }
    }
  }
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
