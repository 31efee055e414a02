#include "learn/gumbel.h"

#include <limits>

namespace patchlm {

at::Tensor gumbel_noise(at::IntArrayRef shape, at::Generator generator, const at::TensorOptions& options) {
  at::Tensor u = at::empty(shape, options.dtype(at::kFloat));
  u.uniform_(0.0, 1.0, generator);
  u.clamp_(std::numeric_limits<float>::min(), 1.0 - 1.0 / (1 << 24));
  return u.log_().neg_().log_().neg_();
}

at::Tensor gumbel_softmax(const at::Tensor& logits, const at::Tensor& noise, double tau) {
  return at::softmax((logits + noise) / tau, -1);
}

}  // namespace patchlm
