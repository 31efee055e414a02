// The chunked cross-entropy of mask learning against ATen's cross_entropy on the whole logits: value and dL/dhidden
// for chunk sizes from one row to more than all rows, with and without a logit soft-cap (Gemma-style).
#include <gtest/gtest.h>

#include "learn/chunked_cross_entropy.h"

namespace patchlm {
namespace {

TEST(ChunkedCrossEntropy, EqualsTheWholeLogitsLoss) {
  at::manual_seed(3);
  const at::Tensor weight = at::randn({50, 16}, at::kDouble);
  const at::Tensor targets = at::randint(0, 50, {37}, at::kLong);
  for (const double cap : {0.0, 3.0}) {
    const LogitsFn logits_of = [&](const at::Tensor& h) {
      const at::Tensor z = at::linear(h, weight);
      return cap > 0 ? at::tanh(z / cap) * cap : z;
    };
    const at::Tensor base = at::randn({37, 16}, at::kDouble);
    const at::Tensor h_ref = base.clone().requires_grad_(true);
    const at::Tensor ref = at::cross_entropy_loss(logits_of(h_ref), targets);
    (ref * 1.7).backward();
    for (const std::int64_t rows : {1, 5, 36, 37, 100}) {
      SCOPED_TRACE(std::to_string(rows) + " rows per chunk, cap " + std::to_string(cap));
      const at::Tensor h = base.clone().requires_grad_(true);
      const at::Tensor ce = chunked_cross_entropy(logits_of, h, targets, rows);
      (ce * 1.7).backward();
      EXPECT_NEAR(ce.item<double>(), ref.item<double>(), 1e-6);  // the loss comes back in fp32
      EXPECT_TRUE(at::allclose(h.grad(), h_ref.grad(), 1e-6, 1e-9)) << (h.grad() - h_ref.grad()).abs().max();
    }
  }
}

TEST(ChunkedCrossEntropy, ChunkRowsKeepAChunkNear256MiB) {
  EXPECT_EQ(cross_entropy_chunk_rows(128256), 523);
  EXPECT_EQ(cross_entropy_chunk_rows(1), 67108864);
  EXPECT_GE(cross_entropy_chunk_rows(1 << 30), 1);
}

}  // namespace
}  // namespace patchlm
