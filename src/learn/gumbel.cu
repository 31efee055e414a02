// The counter-based Gumbel noise of gumbel.h drawn on the device (the tile logits' noise of every layer and
// micro-batch): no host loop, no host-to-device copy in the middle of a step.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "learn/gumbel_counter.h"

namespace patchlm {
namespace {

__global__ void counter_gumbel_kernel(std::uint64_t stream, float* out, std::int64_t n) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = counter_gumbel<float>(stream, static_cast<std::uint64_t>(i));
}

}  // namespace

void counter_gumbel_cuda(std::uint64_t stream, float* out, std::int64_t n, void* cuda_stream) {
  if (n == 0) return;
  constexpr int kThreads = 256;
  counter_gumbel_kernel<<<static_cast<unsigned>((n + kThreads - 1) / kThreads), kThreads, 0,
                          static_cast<cudaStream_t>(cuda_stream)>>>(stream, out, n);
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw std::runtime_error(std::string("counter Gumbel noise: ") + cudaGetErrorString(e));
}

}  // namespace patchlm
