// kernels/dependent_launch.h: the process-wide switch and the launch configuration.
#include "kernels/dependent_launch.h"

#include <atomic>

namespace patchlm::kernels {
namespace {

std::atomic<bool> enabled{true};

// Programmatic dependent launch needs compute capability 9.0 (the current device's, queried once per process: a
// process drives one kind of GPU).
bool device_supports_dependent_launch() {
  static const bool supported = [] {
    int device = 0, major = 0;
    return cudaGetDevice(&device) == cudaSuccess &&
           cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) == cudaSuccess && major >= 9;
  }();
  return supported;
}

}  // namespace

bool dependent_launch_enabled() { return enabled.load(std::memory_order_relaxed); }
void set_dependent_launch(bool on) { enabled.store(on, std::memory_order_relaxed); }

cudaLaunchConfig_t dependent_launch_config(dim3 grid, dim3 block, int shared_bytes, cudaStream_t stream,
                                           cudaLaunchAttribute* attribute) {
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = static_cast<std::size_t>(shared_bytes);
  config.stream = stream;
  attribute->id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute->val.programmaticStreamSerializationAllowed = 1;
  config.attrs = attribute;
  config.numAttrs = dependent_launch_enabled() && device_supports_dependent_launch() ? 1 : 0;
  return config;
}

}  // namespace patchlm::kernels
