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

// Many layers' noise back to back: each element finds its layer among the offsets (a binary search over a few
// hundred entries, from L2 after the first warps) and draws from that layer's stream.
__global__ void counter_gumbel_layers_kernel(std::uint64_t key, std::uint64_t part, const std::int64_t* offsets,
                                             std::int64_t layers, float* out, std::int64_t n) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  std::int64_t lo = 0, hi = layers - 1;  // the last layer whose offset is <= i
  while (lo < hi) {
    const std::int64_t mid = (lo + hi + 1) / 2;
    if (offsets[mid] <= i) lo = mid;
    else hi = mid - 1;
  }
  const std::uint64_t stream = layer_noise_stream(key, static_cast<std::uint64_t>(lo), part);
  out[i] = counter_gumbel<float>(stream, static_cast<std::uint64_t>(i - offsets[lo]));
}

void check_launch(const char* what) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

constexpr int kThreads = 256;
unsigned blocks_for(std::int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

}  // namespace

void counter_gumbel_cuda(std::uint64_t stream, float* out, std::int64_t n, void* cuda_stream) {
  if (n == 0) return;
  counter_gumbel_kernel<<<blocks_for(n), kThreads, 0, static_cast<cudaStream_t>(cuda_stream)>>>(stream, out, n);
  check_launch("counter Gumbel noise");
}

void counter_gumbel_layers_cuda(std::uint64_t key, std::uint64_t part, const std::int64_t* offsets,
                                std::int64_t layers, float* out, std::int64_t n, void* cuda_stream) {
  if (n == 0) return;
  counter_gumbel_layers_kernel<<<blocks_for(n), kThreads, 0, static_cast<cudaStream_t>(cuda_stream)>>>(
      key, part, offsets, layers, out, n);
  check_launch("counter Gumbel noise of layers");
}

}  // namespace patchlm
