// frobenius_norm (the weight regulariser's ‖M ⊙ W‖) with its one-pass backward against ATen's linalg_vector_norm
// and its autograd: fp64, bf16 (fp32 accumulation), and the zero tensor (gradient 0, not NaN).
#include <gtest/gtest.h>

#include "learn/regularizers.h"

namespace patchlm {
namespace {

TEST(FrobeniusNorm, ValueAndGradientMatchAten) {
  at::manual_seed(11);
  for (const at::ScalarType dtype : {at::kDouble, at::kBFloat16}) {
    const at::Tensor base = at::randn({24, 40}, at::kDouble).to(dtype);
    const at::Tensor a = base.clone().requires_grad_(true), b = base.clone().requires_grad_(true);
    const at::Tensor ours = frobenius_norm(a);
    const at::Tensor ref = at::linalg_vector_norm(b.to(at::kDouble), 2);
    (ours * 2.5).backward();
    (ref * 2.5).backward();
    EXPECT_EQ(ours.scalar_type(), dtype == at::kDouble ? at::kDouble : at::kFloat);
    EXPECT_NEAR(ours.item<double>(), ref.item<double>(), 1e-5 * ref.item<double>());
    EXPECT_EQ(a.grad().scalar_type(), dtype);
    const double tol = dtype == at::kDouble ? 1e-12 : 1e-2;
    EXPECT_TRUE(at::allclose(a.grad().to(at::kDouble), b.grad().to(at::kDouble), tol, 1e-6))
        << (a.grad().to(at::kDouble) - b.grad().to(at::kDouble)).abs().max();
  }
  const at::Tensor zero = at::zeros({3, 4}).requires_grad_(true);
  frobenius_norm(zero).backward();
  EXPECT_EQ(zero.grad().abs().sum().item<double>(), 0.0);
}

}  // namespace
}  // namespace patchlm
