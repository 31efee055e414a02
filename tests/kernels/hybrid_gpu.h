#pragma once
// Whether this machine can run the hybrid kernels — a CUDA device they take — for the GPU tests, which skip
// themselves elsewhere (e.g. in CI).
#include <gtest/gtest.h>

#include <ATen/cuda/CUDAContext.h>

#include "kernels/hybrid_linear.h"

namespace patchlm::testing {

inline bool have_hybrid_gpu() {
  return at::cuda::is_available() && kernels::hybrid_kernel_unavailable(at::Device("cuda:0")).empty();
}

}  // namespace patchlm::testing

#define SKIP_WITHOUT_HYBRID_GPU() \
  if (!patchlm::testing::have_hybrid_gpu()) GTEST_SKIP() << "no usable CUDA device"
