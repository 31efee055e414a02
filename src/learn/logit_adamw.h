#pragma once
// AdamW over PATCH's mask logits, one tensor at a time: the trainer updates a layer's 2:4 logits as soon as their
// gradient of the step is complete — from inside the backward pass (trainer.h) — so no whole-model gradient buffer
// ever exists, and the tile logits at the end of the step. Logits and moments are fp32, or bf16 with stochastic
// rounding (logit_adamw_element.h has the update and the rounding), which halves the state of PATCH^Joint: a 7B
// model carries ~10 billion 2:4 logits, 39 GB in fp32 plus 78 GB of fp32 moments.
// CPU: at::parallel_for over the shared element function; CUDA: logit_adamw.cu, on the current stream, no sync.
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "learn/options.h"

namespace patchlm {

// fp32 | bf16: the dtype of the 2:4 logits and of every AdamW moment (`--state-dtype`).
at::ScalarType parse_state_dtype(const std::string& name);  // UsageError naming --state-dtype
const char* state_dtype_name(at::ScalarType dtype);

class LogitAdamW {
 public:
  // state_dtype: fp32 or bf16; seed keys the stochastic rounding (with the step and the tensor's index).
  LogitAdamW(const LearnOptimizer& options, double weight_decay, at::ScalarType state_dtype, std::uint64_t seed);

  // Registers a parameter (fp32 or bf16, contiguous, updated in place); its moments start at zero. Returns its index.
  // element_offset: the global index of its first element when it is one rank's slice of a sharded tensor
  // (mask_shards.h) — the stochastic rounding is keyed by the global index, so a slice rounds as the whole would.
  std::size_t add(const at::Tensor& param, std::int64_t element_offset = 0);
  // One AdamW update of parameter `index` with its gradient of the step (fp32, same shape), at learning rate `lr`,
  // as optimizer step `step` (1-based, for the bias corrections and the rounding stream).
  void update(std::size_t index, const at::Tensor& grad, double lr, std::int64_t step);
  // Whether any update since the last call met a non-finite gradient element (those were skipped). Syncs the device.
  bool take_non_finite();

  std::size_t size() const { return params_.size(); }
  at::Tensor& exp_avg(std::size_t index) { return exp_avg_.at(index); }
  at::Tensor& exp_avg_sq(std::size_t index) { return exp_avg_sq_.at(index); }
  at::ScalarType state_dtype() const { return state_dtype_; }

 private:
  LearnOptimizer options_;
  double weight_decay_;
  at::ScalarType state_dtype_;
  std::uint64_t seed_;
  std::vector<at::Tensor> params_, exp_avg_, exp_avg_sq_;
  std::vector<std::int64_t> element_offsets_;
  std::vector<at::Tensor> non_finite_;  // per CUDA device used: one int32 flag
  bool cpu_non_finite_ = false;
};

}  // namespace patchlm
