#pragma once
// A Kineto profile (LibTorch's profiler, the one behind torch.profiler) around some learning steps: writes a Chrome
// trace (chrome://tracing, Perfetto) and sums the device kernels by name, so `bench learn --profile` says what
// dominates a step without nsys.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace patchlm {

struct KernelTime {
  std::string name;
  double total_ms = 0;
  std::int64_t calls = 0;
};

class StepProfile {
 public:
  StepProfile();  // starts recording CPU ops and, where CUDA is present, device kernels
  ~StepProfile();
  StepProfile(const StepProfile&) = delete;
  StepProfile& operator=(const StepProfile&) = delete;
  // Stops recording, writes the Chrome trace to `trace_path` (atomically) and returns the device kernels by total
  // time, longest first (empty on the CPU).
  std::vector<KernelTime> finish(const std::string& trace_path);

 private:
  bool active_ = false;
};

// A Markdown table of the `top` longest kernels with their share of `total_ms` (the profiled wall time).
std::string kernel_table(const std::vector<KernelTime>& kernels, double total_ms, std::size_t top = 20);

}  // namespace patchlm
