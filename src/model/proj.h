#pragma once
// Proj — the one seam every q/k/v/o/gate/up/down projection goes through. It owns the frozen weight [out, in]
// (and optional bias) and delegates forward() to a strategy: dense by default; masked (learning), observed
// (calibration) or hybrid (CUDA kernel) when one is installed. The decoder never knows which.
#include <memory>
#include <string>

#include <ATen/ATen.h>

namespace patchlm {

class Proj;

class ProjStrategy {
 public:
  virtual ~ProjStrategy() = default;
  virtual at::Tensor forward(const Proj& proj, const at::Tensor& x) = 0;
};

class Proj {
 public:
  Proj() = default;
  Proj(std::string name, at::Tensor weight, at::Tensor bias);

  // y = x Wᵀ + b through the installed strategy (dense when none).
  at::Tensor forward(const at::Tensor& x) const;
  at::Tensor dense_forward(const at::Tensor& x) const;

  void set_strategy(std::shared_ptr<ProjStrategy> strategy) { strategy_ = std::move(strategy); }
  const std::shared_ptr<ProjStrategy>& strategy() const { return strategy_; }

  const std::string& name() const { return name_; }
  // The dense weight; a meta tensor (shape only) when the strategy holds the weight in a form of its own (HybridProj).
  const at::Tensor& weight() const { return weight_; }
  // Replaces the weight (same shape, dtype and device): one-shot pruners that reconstruct weights (SparseGPT).
  void set_weight(at::Tensor weight);
  const at::Tensor& bias() const { return bias_; }  // undefined when absent
  std::int64_t in_features() const { return weight_.size(1); }
  std::int64_t out_features() const { return weight_.size(0); }

 private:
  std::string name_;
  at::Tensor weight_;
  at::Tensor bias_;
  std::shared_ptr<ProjStrategy> strategy_;
};

}  // namespace patchlm
