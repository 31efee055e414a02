// CUDA kernel of logit_adamw: one thread per element (grid-stride), fp32 math, fp32 or bf16 (stochastically
// rounded) logits and moments. A non-finite gradient element sets *non_finite.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "learn/logit_adamw_kernels.h"
#include "learn/logit_adamw_element.h"

namespace patchlm {
namespace {

template <typename P, typename S>
__global__ void adamw_kernel(P* param, S* exp_avg, S* exp_avg_sq, const float* grad, std::int64_t n,
                             adamw::StepScalars s, int* non_finite) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    if (!adamw::update(param, exp_avg, exp_avg_sq, grad[i], i, s)) atomicOr(non_finite, 1);
  }
}

template <typename P, typename S>
void launch(const AdamWLaunch& k) {
  constexpr int kThreads = 256;
  const std::int64_t blocks = (k.n + kThreads - 1) / kThreads;
  const unsigned grid = static_cast<unsigned>(blocks < 132 * 32 ? blocks : 132 * 32);
  adamw_kernel<P, S><<<grid, kThreads, 0, static_cast<cudaStream_t>(k.cuda_stream)>>>(
      static_cast<P*>(k.param), static_cast<S*>(k.exp_avg), static_cast<S*>(k.exp_avg_sq), k.grad, k.n, k.scalars,
      k.non_finite);
}

}  // namespace

void logit_adamw_cuda(const AdamWLaunch& k) {
  if (k.n == 0) return;
  if (k.param_bf16 && k.state_bf16) launch<std::uint16_t, std::uint16_t>(k);
  else if (k.param_bf16) launch<std::uint16_t, float>(k);
  else if (k.state_bf16) launch<float, std::uint16_t>(k);
  else launch<float, float>(k);
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw std::runtime_error(std::string("logit AdamW: ") + cudaGetErrorString(e));
}

}  // namespace patchlm
