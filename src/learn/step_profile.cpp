#include "learn/step_profile.h"

#include <torch/csrc/autograd/profiler_kineto.h>

#include <ATen/Context.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

#include "util/error.h"

namespace patchlm {

namespace prof = torch::profiler::impl;

StepProfile::StepProfile() {
  std::set<prof::ActivityType> activities{prof::ActivityType::CPU};
  if (at::hasCUDA()) activities.insert(prof::ActivityType::CUDA);
  const prof::ProfilerConfig config(prof::ProfilerState::KINETO, /*report_input_shapes=*/false,
                                    /*profile_memory=*/false);
  torch::autograd::profiler::prepareProfiler(config, activities);
  torch::autograd::profiler::enableProfiler(config, activities);
  active_ = true;
}

StepProfile::~StepProfile() {
  if (active_) torch::autograd::profiler::disableProfiler();
}

std::vector<KernelTime> StepProfile::finish(const std::string& trace_path) {
  if (!active_) throw Error("profile: already finished");
  active_ = false;
  std::unique_ptr<torch::autograd::profiler::ProfilerResult> result = torch::autograd::profiler::disableProfiler();
  const std::filesystem::path tmp = trace_path + ".tmp";
  result->save(tmp.string());
  std::error_code ec;
  std::filesystem::rename(tmp, trace_path, ec);
  if (ec) throw Error(str_cat("--profile: cannot write ", trace_path, ": ", ec.message()));
  std::map<std::string, KernelTime> by_name;
  for (const auto& e : result->events()) {
    if (e.deviceType() != c10::DeviceType::CUDA) continue;
    KernelTime& k = by_name[e.name()];
    k.name = e.name();
    k.total_ms += static_cast<double>(e.durationNs()) / 1e6;
    ++k.calls;
  }
  std::vector<KernelTime> kernels;
  for (auto& [name, k] : by_name) kernels.push_back(std::move(k));
  std::sort(kernels.begin(), kernels.end(), [](const KernelTime& a, const KernelTime& b) { return a.total_ms > b.total_ms; });
  return kernels;
}

std::string kernel_table(const std::vector<KernelTime>& kernels, double total_ms, std::size_t top) {
  std::string out = "| device time ms | share of wall | calls | kernel |\n|---|---|---|---|\n";
  double device_ms = 0;
  for (const KernelTime& k : kernels) device_ms += k.total_ms;
  for (std::size_t i = 0; i < kernels.size() && i < top; ++i) {
    const KernelTime& k = kernels[i];
    std::string name = k.name.size() > 110 ? k.name.substr(0, 107) + "..." : k.name;
    std::replace(name.begin(), name.end(), '|', '/');
    char row[64];
    std::snprintf(row, sizeof row, "| %.2f | %.1f %% | %lld | ", k.total_ms, 100 * k.total_ms / total_ms,
                  static_cast<long long>(k.calls));
    out += row + name + " |\n";
  }
  char sum[128];
  std::snprintf(sum, sizeof sum, "| %.2f | %.1f %% | | all device kernels (%.2f ms wall) |\n", device_ms,
                100 * device_ms / total_ms, total_ms);
  return out + sum;
}

}  // namespace patchlm
