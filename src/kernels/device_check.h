#pragma once
// What CUDA sees on this machine, and a self-check that a kernel built by this project runs and computes
// correctly on a given GPU. Compiled only when nvcc exists (PATCHLM_HAVE_CUDA); needs no GPU to build.
#include <cstddef>
#include <string>
#include <vector>

namespace patchlm::kernels {

struct CudaDevice {
  int index = 0;
  std::string name;
  int major = 0;  // compute capability
  int minor = 0;
  int multiprocessors = 0;
  std::size_t memory_bytes = 0;
};

struct CudaStatus {
  bool available = false;
  std::string reason;  // why not available (no driver, no device, ...)
  int driver_version = 0;
  int runtime_version = 0;
  std::vector<CudaDevice> devices;
};

CudaStatus query_cuda();

// The architectures the kernels were compiled for, e.g. {"sm_80", "sm_90a"}.
std::vector<std::string> compiled_architectures();

// Launches a kernel on `device` and compares every element with the host result.
// Returns an empty string on success, otherwise what went wrong.
std::string run_device_self_check(int device);

}  // namespace patchlm::kernels
