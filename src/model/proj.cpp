#include "model/proj.h"

namespace patchlm {

Proj::Proj(std::string name, at::Tensor weight, at::Tensor bias)
    : name_(std::move(name)), weight_(std::move(weight)), bias_(std::move(bias)) {}

at::Tensor Proj::forward(const at::Tensor& x) const {
  return strategy_ ? strategy_->forward(*this, x) : dense_forward(x);
}

at::Tensor Proj::dense_forward(const at::Tensor& x) const {
  return bias_.defined() ? at::linear(x, weight_, bias_) : at::linear(x, weight_);
}

}  // namespace patchlm
