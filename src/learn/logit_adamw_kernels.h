#pragma once
// The launch description of logit_adamw's kernels — CUDA (logit_adamw.cu) and the vectorised CPU one
// (logit_adamw_avx2.cpp, x86-64 with AVX2 + FMA; elsewhere logit_adamw.cpp's scalar loop): raw pointers, fp32 gradient.
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
  int* non_finite = nullptr;   // CUDA: device int, or'ed with 1 on a non-finite gradient element
  void* cuda_stream = nullptr;
};

void logit_adamw_cuda(const AdamWLaunch& launch);

// Whether this CPU runs the vectorised update, and the update of elements [begin, end) (the caller spreads ranges
// over threads); it returns false when a gradient element was not finite.
bool logit_adamw_avx2_available();
bool logit_adamw_avx2(const AdamWLaunch& launch, std::int64_t begin, std::int64_t end);

}  // namespace patchlm
