#pragma once
// The launch description of logit_adamw's CUDA kernel (logit_adamw.cu): raw pointers, fp32 gradient.
#include <cstdint>

#include "learn/logit_adamw_element.h"

namespace patchlm {

struct AdamWLaunch {
  void* param = nullptr;       // fp32, or bf16 bits when param_bf16
  void* exp_avg = nullptr;     // fp32, or bf16 bits when state_bf16
  void* exp_avg_sq = nullptr;
  const float* grad = nullptr;
  std::int64_t n = 0;
  bool param_bf16 = false, state_bf16 = false;
  adamw::StepScalars scalars;
  int* non_finite = nullptr;   // device int, or'ed with 1 on a non-finite gradient element
  void* cuda_stream = nullptr;
};

void logit_adamw_cuda(const AdamWLaunch& launch);

}  // namespace patchlm
