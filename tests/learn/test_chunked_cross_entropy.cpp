// The chunked cross-entropy of mask learning against ATen's cross_entropy on the whole logits: value and dL/dhidden
// for chunk sizes from one row to more than all rows, with and without a logit soft-cap (Gemma-style); and its row
// op, cross_entropy_rows: the CPU formula against autograd, the CUDA kernel (bf16 logits) against the CPU formula.
#include <gtest/gtest.h>

#include <torch/autograd.h>

#include "learn/chunked_cross_entropy.h"
#include "learn/cross_entropy_rows.h"

namespace patchlm {
namespace {

at::Tensor soft_capped(const at::Tensor& z, double cap) { return cap > 0 ? at::tanh(z / cap) * cap : z; }

TEST(ChunkedCrossEntropy, EqualsTheWholeLogitsLoss) {
  at::manual_seed(3);
  const at::Tensor weight = at::randn({50, 16}, at::kDouble);
  const at::Tensor targets = at::randint(0, 50, {37}, at::kLong);
  const LogitsFn logits_of = [&](const at::Tensor& h) { return at::linear(h, weight); };
  for (const double cap : {0.0, 3.0}) {
    const at::Tensor base = at::randn({37, 16}, at::kDouble);
    const at::Tensor h_ref = base.clone().requires_grad_(true);
    const at::Tensor ref = at::cross_entropy_loss(soft_capped(logits_of(h_ref), cap), targets);
    (ref * 1.7).backward();
    for (const std::int64_t rows : {1, 5, 36, 37, 100}) {
      SCOPED_TRACE(std::to_string(rows) + " rows per chunk, cap " + std::to_string(cap));
      const at::Tensor h = base.clone().requires_grad_(true);
      const at::Tensor ce = chunked_cross_entropy(logits_of, h, targets, rows, cap);
      (ce * 1.7).backward();
      EXPECT_NEAR(ce.item<double>(), ref.item<double>(), 1e-6);  // the loss comes back in fp32
      EXPECT_TRUE(at::allclose(h.grad(), h_ref.grad(), 1e-6, 1e-9)) << (h.grad() - h_ref.grad()).abs().max();
      // Without a gradient wanted (evaluation) the same value, and no dL/dh is made.
      at::NoGradGuard no_grad;
      EXPECT_NEAR(chunked_cross_entropy(logits_of, h, targets, rows, cap).item<double>(), ref.item<double>(), 1e-6);
    }
  }
}

TEST(ChunkedCrossEntropy, ChunkRowsKeepAChunkNear256MiBInWholeGemmTiles) {
  EXPECT_EQ(cross_entropy_chunk_rows(128256), 512);  // 523 rows of fp32 logits would be 256 MiB
  EXPECT_EQ(cross_entropy_chunk_rows(49152), 1280);   // 1365
  EXPECT_EQ(cross_entropy_chunk_rows(1), 67108864);
  EXPECT_EQ(cross_entropy_chunk_rows(std::int64_t{1} << 20), 64);  // under 128 rows: as computed
  EXPECT_GE(cross_entropy_chunk_rows(std::int64_t{1} << 30), 1);
}

TEST(CrossEntropyRows, CpuFormulaMatchesAutograd) {
  at::manual_seed(5);
  for (const double cap : {0.0, 2.5}) {
    const at::Tensor z = (at::randn({9, 33}, at::kDouble) * 3).requires_grad_(true);
    const at::Tensor y = at::randint(0, 33, {9}, at::kLong);
    const at::Tensor ref = at::cross_entropy_loss(soft_capped(z, cap), y, {}, at::Reduction::None);
    ref.sum().backward();
    const CrossEntropyRows out = cross_entropy_rows(z.detach(), y, cap, true, 0.5);
    EXPECT_TRUE(at::allclose(out.loss.to(at::kDouble), ref.detach(), 1e-6, 1e-6));
    EXPECT_TRUE(at::allclose(out.grad, z.grad() * 0.5, 1e-12, 1e-12)) << (out.grad - z.grad() * 0.5).abs().max();
    EXPECT_FALSE(cross_entropy_rows(z.detach(), y, cap, false, 1.0).grad.defined());
  }
}

TEST(CrossEntropyRows, BadInputIsRefused) {
  const at::Tensor z = at::zeros({2, 4});
  EXPECT_THROW(cross_entropy_rows(z, at::tensor({0, 4}, at::kLong), 0, false, 1), std::exception);
  EXPECT_THROW(cross_entropy_rows(z, at::tensor({0}, at::kLong), 0, false, 1), std::exception);
  EXPECT_THROW(cross_entropy_rows(z, at::tensor({0, 1}, at::kInt), 0, false, 1), std::exception);
}

// The kernel reads bf16 logits and computes in fp32: against the CPU formula on the same bf16 values (in fp32), for
// a vocabulary of a multiple of 8 (16-byte vectors) and one that is not, with and without the cap.
TEST(CrossEntropyRows, CudaKernelMatchesTheCpuFormula) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  at::manual_seed(7);
  for (const std::int64_t vocab : {128256, 1001, 24}) {
    for (const double cap : {0.0, 30.0}) {
      SCOPED_TRACE("vocab " + std::to_string(vocab) + ", cap " + std::to_string(cap));
      const at::Tensor z = (at::randn({37, vocab}) * 4).to(at::kBFloat16);
      const at::Tensor y = at::randint(0, vocab, {37}, at::kLong);
      const CrossEntropyRows ref = cross_entropy_rows(z.to(at::kFloat), y, cap, true, 1.0 / 37);
      const at::Tensor zc = z.cuda();
      const CrossEntropyRows out = cross_entropy_rows(zc, y.cuda(), cap, true, 1.0 / 37);
      EXPECT_TRUE(at::allclose(out.loss.cpu(), ref.loss, 1e-5, 1e-4)) << (out.loss.cpu() - ref.loss).abs().max();
      EXPECT_EQ(out.grad.data_ptr(), zc.data_ptr());  // written over the logits
      // bf16 gradient: one rounding of the fp32 value (relative 2^-8) plus the fast exp's error.
      const at::Tensor diff = (out.grad.cpu().to(at::kFloat) - ref.grad).abs();
      EXPECT_TRUE((diff <= ref.grad.abs() * 8e-3 + 1e-9).all().item<bool>()) << diff.max();
      const CrossEntropyRows no_grad = cross_entropy_rows(z.cuda(), y.cuda(), cap, false, 1.0);
      EXPECT_TRUE(at::allclose(no_grad.loss.cpu(), ref.loss, 1e-5, 1e-4));
      EXPECT_FALSE(no_grad.grad.defined());
    }
  }
  // A target outside the vocabulary: NaN for that row, not a stray read.
  const at::Tensor z = at::zeros({2, 16}, at::TensorOptions().dtype(at::kBFloat16).device(at::kCUDA));
  const at::Tensor loss = cross_entropy_rows(z, at::tensor({3, 16}, at::kLong).cuda(), 0, false, 1).loss.cpu();
  EXPECT_NEAR(loss[0].item<float>(), std::log(16.0), 1e-5);
  EXPECT_TRUE(std::isnan(loss[1].item<float>()));
}

}  // namespace
}  // namespace patchlm
