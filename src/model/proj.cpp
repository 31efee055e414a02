#include "model/proj.h"

#include "util/error.h"

namespace patchlm {

Proj::Proj(std::string name, at::Tensor weight, at::Tensor bias)
    : name_(std::move(name)), weight_(std::move(weight)), bias_(std::move(bias)) {}

void Proj::set_weight(at::Tensor weight) {
  if (!weight.sizes().equals(weight_.sizes()) || weight.scalar_type() != weight_.scalar_type() ||
      weight.device() != weight_.device()) {
    throw Error(str_cat(name_, ": replacement weight does not match shape, dtype and device of the original"));
  }
  weight_ = std::move(weight);
}

at::Tensor Proj::forward(const at::Tensor& x) const {
  return strategy_ ? strategy_->forward(*this, x) : dense_forward(x);
}

at::Tensor Proj::dense_forward(const at::Tensor& x) const {
  return bias_.defined() ? at::linear(x, weight_, bias_) : at::linear(x, weight_);
}

}  // namespace patchlm
