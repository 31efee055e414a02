// The fused mask op (learn/fused_mask.h) against its composed reference with the same counter-based noise: values
// and gradients in every mode, fp32 and bf16 weights, tiles whose width is not a multiple of 4, independent of the
// thread count; bf16 logits whose gradient goes to a sink (the trainer's way) against autograd; on a GPU (where
// present) the CUDA kernels against the CPU kernel and the device-drawn noise against the host's. The fp64 comparison with direct
// PyTorch formulas is tests/oracle/test_learn.py (tools/mask_grad).
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include "learn/fused_mask.h"
#include "learn/gumbel.h"
#include "learn/mask_2to4.h"
#include "learn/regularizers.h"
#include "learn/tile_mask.h"

namespace patchlm {
namespace {

struct Case {
  MaskMode mode;
  std::int64_t rows, cols;
  TileShape tile;
};

struct Layer {
  LayerLogits logits;
  at::Tensor weight, upstream, tile_noise;
};

Layer make_layer(const Case& c, at::ScalarType weight_dtype, std::uint64_t seed) {
  at::manual_seed(static_cast<std::int64_t>(seed));
  Layer L;
  L.logits.name = "layer.weight";
  L.logits.rows = c.rows;
  L.logits.cols = c.cols;
  L.logits.logits_2to4 = (at::randn({c.rows * c.cols / 4, 6}) * 0.05).requires_grad_(true);
  L.logits.tile_logits = (at::randn({c.rows / c.tile.rows, c.cols / c.tile.cols}) * 0.1).requires_grad_(true);
  const at::Tensor keep = at::zeros({c.rows * c.cols / 4, 4});
  keep.scatter_(1, std::get<1>(at::rand({c.rows * c.cols / 4, 4}).topk(2, 1)), 1.0);
  L.logits.fixed_2to4 = keep.reshape({c.rows, c.cols});
  L.weight = at::randn({c.rows, c.cols}).to(weight_dtype);
  L.upstream = at::randn({c.rows, c.cols}).to(weight_dtype);
  L.tile_noise = counter_gumbel_noise(99, {c.rows / c.tile.rows, c.cols / c.tile.cols, 2}, at::kFloat);
  return L;
}

struct Result {
  at::Tensor out, grad_2to4, grad_tiles, norm;  // norm: with a weight-regulariser term only
};

// How the op runs: the composed reference, the fused op with autograd gradients, or the trainer's way — bf16 2:4
// logits that require no grad, their gradient handed to a sink, an anchor keeping the op on the backward path.
enum class Path { reference, fused, sink };

// out = W ⊙ M and the gradients of Σ out ⊙ upstream + norm_weight·‖out‖ (the fused paths take ‖out‖ from the op,
// its gradient folded into the op's backward pass; the reference takes frobenius_norm of its output).
Result evaluate(const Case& c, const Layer& L, Path path, at::Device device = at::kCPU, double norm_weight = 0) {
  LayerLogits l = L.logits;
  l.logits_2to4 = path == Path::sink ? L.logits.logits_2to4.detach().to(device, at::kBFloat16)
                                     : L.logits.logits_2to4.detach().to(device).requires_grad_(true);
  l.tile_logits = L.logits.tile_logits.detach().to(device).requires_grad_(true);
  l.fixed_2to4 = L.logits.fixed_2to4.to(device);
  const SampleParams p{1.5, 3.0, 2.0};
  const at::Tensor tiles =
      c.mode == MaskMode::maskllm ? at::Tensor() : soft_tiles(l.tile_logits, L.tile_noise.to(device), p.kappat, p.tau);
  const std::uint64_t stream = noise_stream(noise_key(7, 3, 1), 5, NoisePart::two_four);
  const at::Tensor w = L.weight.to(device);
  at::Tensor sunk = at::zeros(l.logits_2to4.sizes());
  const LogitGradSink sink = [&](const at::Tensor& g) {
    EXPECT_EQ(g.scalar_type(), at::kFloat);
    sunk = g.cpu();
  };
  const at::Tensor anchor = at::empty({0}, at::TensorOptions().device(device)).requires_grad_(true);
  at::Tensor norm;
  at::Tensor* want_norm = norm_weight != 0 ? &norm : nullptr;
  const at::Tensor out =
      path == Path::reference ? reference_masked_weight(w, l, c.mode, p, c.tile, tiles, stream)
      : path == Path::fused   ? fused_masked_weight(w, l, c.mode, p, c.tile, tiles, stream, nullptr, {}, want_norm)
                              : fused_masked_weight(w, l, c.mode, p, c.tile, tiles, stream, &sink, anchor, want_norm);
  if (path == Path::reference && want_norm) norm = frobenius_norm(out);
  at::Tensor loss = (out.to(at::kFloat) * L.upstream.to(device).to(at::kFloat)).sum();
  if (want_norm) loss = loss + norm_weight * norm;
  loss.backward();
  auto grad = [](const at::Tensor& t) { return t.grad().defined() ? t.grad().cpu() : at::zeros_like(t).cpu(); };
  return {out.detach().cpu(), path == Path::sink ? sunk : grad(l.logits_2to4), grad(l.tile_logits),
          want_norm ? norm.detach().cpu() : at::Tensor()};
}

// The same layer with its 2:4 logits rounded to bf16 (what Path::sink sees), for the autograd path.
Layer with_bf16_logits(Layer L) {
  L.logits.logits_2to4 = L.logits.logits_2to4.detach().to(at::kBFloat16).to(at::kFloat);
  return L;
}

void expect_close(const Result& a, const Result& b, double atol, double rtol) {
  EXPECT_TRUE(at::allclose(a.out.to(at::kFloat), b.out.to(at::kFloat), rtol, atol))
      << (a.out.to(at::kFloat) - b.out.to(at::kFloat)).abs().max();
  EXPECT_TRUE(at::allclose(a.grad_2to4, b.grad_2to4, rtol, atol)) << (a.grad_2to4 - b.grad_2to4).abs().max();
  EXPECT_TRUE(at::allclose(a.grad_tiles, b.grad_tiles, rtol, atol)) << (a.grad_tiles - b.grad_tiles).abs().max();
  EXPECT_EQ(a.norm.defined(), b.norm.defined());
  if (a.norm.defined() && b.norm.defined())
    EXPECT_TRUE(at::allclose(a.norm.to(at::kDouble), b.norm.to(at::kDouble), rtol, atol)) << a.norm << " vs " << b.norm;
}

// A weight-regulariser weight large enough that its gradient is a visible part of the logits' gradients.
constexpr double kNormWeight = 20.0;

const Case kCases[] = {{MaskMode::joint, 32, 48, {16, 16}},
                       {MaskMode::tile, 32, 48, {16, 16}},
                       {MaskMode::maskllm, 32, 48, {16, 16}},
                       {MaskMode::joint, 16, 24, {8, 6}}};  // groups straddle tiles

TEST(FusedMask, MatchesTheReferenceInEveryMode) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(mode_name(c.mode) + std::string(" tile ") + c.tile.name());
    const Layer L = make_layer(c, at::kFloat, 1);
    const Result fused = evaluate(c, L, Path::fused), reference = evaluate(c, L, Path::reference);
    expect_close(fused, reference, 1e-5, 1e-4);
    EXPECT_GT(fused.grad_tiles.abs().sum().item<double>() + fused.grad_2to4.abs().sum().item<double>(), 0.0);
  }
}

// ‖W ⊙ M‖ from the op, its gradient folded into the op's backward (the vectorised fp32 kernel and the scalar fp64
// loop), against the reference's W ⊙ M with frobenius_norm and autograd — and the term does change the gradients.
TEST(FusedMask, FoldsTheWeightRegularizersGradient) {
  for (const at::ScalarType dtype : {at::kFloat, at::kDouble}) {
    for (const Case& c : kCases) {
      SCOPED_TRACE(mode_name(c.mode) + std::string(" tile ") + c.tile.name() + " " + c10::toString(dtype));
      const Layer L = make_layer(c, dtype, 8);
      const Result fused = evaluate(c, L, Path::fused, at::kCPU, kNormWeight);
      expect_close(fused, evaluate(c, L, Path::reference, at::kCPU, kNormWeight), 1e-5, 1e-4);
      const Result plain = evaluate(c, L, Path::fused);
      EXPECT_FALSE(at::allclose(fused.grad_tiles, plain.grad_tiles) && at::allclose(fused.grad_2to4, plain.grad_2to4));
    }
  }
  const Case c = kCases[0];
  const Layer L = with_bf16_logits(make_layer(c, at::kFloat, 9));
  expect_close(evaluate(c, L, Path::sink, at::kCPU, kNormWeight), evaluate(c, L, Path::fused, at::kCPU, kNormWeight),
               1e-6, 1e-5);
}

TEST(FusedMask, Bf16WeightsKeepFp32Gradients) {
  const Case c = kCases[0];
  const Layer L = make_layer(c, at::kBFloat16, 2);
  const Result fused = evaluate(c, L, Path::fused), reference = evaluate(c, L, Path::reference);
  EXPECT_EQ(fused.out.scalar_type(), at::kBFloat16);
  EXPECT_EQ(fused.grad_2to4.scalar_type(), at::kFloat);
  expect_close(fused, reference, 2e-2, 2e-2);
}

TEST(FusedMask, Bf16LogitsWithASinkMatchAutograd) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(mode_name(c.mode) + std::string(" tile ") + c.tile.name());
    const Layer L = with_bf16_logits(make_layer(c, at::kFloat, 6));
    expect_close(evaluate(c, L, Path::sink), evaluate(c, L, Path::fused), 1e-6, 1e-5);
  }
}

TEST(FusedMask, SameResultForAnyThreadCount) {
  const Case c = kCases[0];
  const Layer L = make_layer(c, at::kFloat, 3);
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const Result one = evaluate(c, L, Path::fused);
  at::set_num_threads(std::max(2, threads));
  const Result many = evaluate(c, L, Path::fused);
  at::set_num_threads(threads);
  EXPECT_TRUE(at::equal(one.out, many.out));
  EXPECT_TRUE(at::equal(one.grad_2to4, many.grad_2to4));
  EXPECT_TRUE(at::equal(one.grad_tiles, many.grad_tiles));
}

TEST(FusedMask, NoiseIsAPureFunctionOfItsKey) {
  const at::Tensor a = counter_gumbel_noise(noise_stream(noise_key(1, 2, 3), 4, NoisePart::two_four), {64, 6}, at::kFloat);
  EXPECT_TRUE(at::equal(a, counter_gumbel_noise(noise_stream(noise_key(1, 2, 3), 4, NoisePart::two_four), {64, 6}, at::kFloat)));
  for (const std::uint64_t other : {noise_stream(noise_key(1, 2, 4), 4, NoisePart::two_four),
                                    noise_stream(noise_key(1, 3, 3), 4, NoisePart::two_four),
                                    noise_stream(noise_key(2, 2, 3), 4, NoisePart::two_four),
                                    noise_stream(noise_key(1, 2, 3), 5, NoisePart::two_four),
                                    noise_stream(noise_key(1, 2, 3), 4, NoisePart::tiles)}) {
    EXPECT_FALSE(at::equal(a, counter_gumbel_noise(other, {64, 6}, at::kFloat)));
  }
  EXPECT_TRUE(at::isfinite(a).all().item<bool>());
}

TEST(FusedMask, CounterUniformStaysInsideTheOpenInterval) {
  for (const std::uint64_t bits : {0ull, ~0ull, 0xffffffffull, 0xffffffff00000000ull}) {
    for (const std::uint64_t i : {0ull, 1ull}) {
      const float uf = counter_uniform_from_pair<float>(bits, i);
      const double ud = counter_uniform_from_pair<double>(bits, i);
      EXPECT_GT(uf, 0.0f);
      EXPECT_LT(uf, 1.0f);
      EXPECT_EQ(static_cast<double>(uf), ud);  // exact in both precisions
      EXPECT_TRUE(std::isfinite(gumbel_from_uniform(uf)));
    }
  }
}

TEST(FusedMaskCuda, MatchesTheCpuKernel) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    for (const Case& c : kCases) {
      SCOPED_TRACE(mode_name(c.mode) + std::string(" tile ") + c.tile.name() + " " + c10::toString(dtype));
      const Layer L = make_layer(c, dtype, 4);
      const double tol = dtype == at::kFloat ? 1e-4 : 2e-2;
      expect_close(evaluate(c, L, Path::fused, at::Device(at::kCUDA, 0)), evaluate(c, L, Path::fused), tol, tol);
      expect_close(evaluate(c, L, Path::fused, at::Device(at::kCUDA, 0), kNormWeight),
                   evaluate(c, L, Path::fused, at::kCPU, kNormWeight), tol, tol);
    }
  }
}

TEST(FusedMaskCuda, Bf16LogitsWithASinkMatchTheCpu) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  for (const Case& c : kCases) {
    SCOPED_TRACE(mode_name(c.mode) + std::string(" tile ") + c.tile.name());
    const Layer L = with_bf16_logits(make_layer(c, at::kBFloat16, 7));
    expect_close(evaluate(c, L, Path::sink, at::Device(at::kCUDA, 0)), evaluate(c, L, Path::fused), 2e-2, 2e-2);
    expect_close(evaluate(c, L, Path::sink, at::Device(at::kCUDA, 0), kNormWeight),
                 evaluate(c, L, Path::fused, at::kCPU, kNormWeight), 2e-2, 2e-2);
  }
}

TEST(FusedMaskCuda, DeviceNoiseIsTheCounterNoise) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  const std::uint64_t stream = noise_stream(noise_key(1, 2, 3), 4, NoisePart::tiles);
  const at::Tensor gpu = counter_gumbel_noise(stream, {33, 17, 2}, at::TensorOptions().device(at::kCUDA));
  const at::Tensor cpu = counter_gumbel_noise(stream, {33, 17, 2}, at::kFloat);
  EXPECT_TRUE(gpu.is_cuda());
  EXPECT_TRUE(at::allclose(gpu.cpu(), cpu, 1e-6, 1e-6)) << (gpu.cpu() - cpu).abs().max();
}

TEST(FusedMaskCuda, LargeLayerMatchesTheReference) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  const Case c{MaskMode::joint, 256, 2048, {128, 128}};
  const Layer L = make_layer(c, at::kBFloat16, 5);
  const at::Device gpu(at::kCUDA, 0);
  expect_close(evaluate(c, L, Path::fused, gpu), evaluate(c, L, Path::reference, gpu), 2e-2, 2e-2);
  expect_close(evaluate(c, L, Path::fused, gpu, kNormWeight), evaluate(c, L, Path::reference, gpu, kNormWeight), 2e-2,
               2e-2);
}

}  // namespace
}  // namespace patchlm
