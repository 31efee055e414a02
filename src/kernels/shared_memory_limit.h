#pragma once
// allow_shared_memory: a kernel's dynamic shared-memory limit raised once per device — the attribute belongs to the
// device's context, so once per process would leave a second GPU of the process at the 48 KB default — and not before
// every launch (a host call per eager launch). In relaxed capture mode (kernels/relaxed_capture.h): a kernel's first
// launch may be inside a graph capture. For .cu files.
#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>

#include "kernels/relaxed_capture.h"

namespace patchlm::kernels {

// `set_on`: the caller's per-kernel record of the devices done (one bit per device index below 64; others are set on
// every call). A failure is returned and not recorded, so the next launch tries again.
template <class Kernel>
cudaError_t allow_shared_memory(Kernel kernel, int bytes, std::atomic<std::uint64_t>& set_on) {
  int device = 0;
  if (const cudaError_t e = cudaGetDevice(&device); e != cudaSuccess) return e;
  const std::uint64_t bit = device < 64 ? std::uint64_t{1} << device : 0;
  if (bit != 0 && (set_on.load(std::memory_order_acquire) & bit) != 0) return cudaSuccess;
  const RelaxedCapture relaxed;
  const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
  if (e == cudaSuccess) set_on.fetch_or(bit, std::memory_order_release);
  return e;
}

}  // namespace patchlm::kernels
