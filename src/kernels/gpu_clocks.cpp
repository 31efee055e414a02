#include "kernels/gpu_clocks.h"

#include <dlfcn.h>

#include <algorithm>

namespace patchlm::kernels {
namespace {

constexpr int kNvmlSuccess = 0;
constexpr int kNvmlClockSm = 1;  // nvmlClockType_t NVML_CLOCK_SM

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

template <class F>
F symbol(void* library, const char* name) {
  return reinterpret_cast<F>(dlsym(library, name));
}

}  // namespace

GpuClockSampler::GpuClockSampler(const std::string& pci_bus_id, const std::string& library) {
  library_ = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (library_ == nullptr) return;
  const auto init = symbol<int (*)()>(library_, "nvmlInit_v2");
  const auto by_bus_id = symbol<int (*)(const char*, void**)>(library_, "nvmlDeviceGetHandleByPciBusId_v2");
  clock_info_ = symbol<int (*)(void*, int, unsigned*)>(library_, "nvmlDeviceGetClockInfo");
  power_usage_ = symbol<int (*)(void*, unsigned*)>(library_, "nvmlDeviceGetPowerUsage");
  shutdown_ = symbol<int (*)()>(library_, "nvmlShutdown");
  if (init == nullptr || by_bus_id == nullptr || clock_info_ == nullptr || power_usage_ == nullptr || shutdown_ == nullptr ||
      init() != kNvmlSuccess)
    return;
  void* device = nullptr;
  if (by_bus_id(pci_bus_id.c_str(), &device) == kNvmlSuccess) device_ = device;
  else shutdown_();
}

GpuClockSampler::~GpuClockSampler() {
  stop();
  if (device_ != nullptr) shutdown_();
  if (library_ != nullptr) dlclose(library_);
}

bool GpuClockSampler::sample(double& sm_mhz, double& power_w) const {
  unsigned mhz = 0, milliwatts = 0;
  if (clock_info_(device_, kNvmlClockSm, &mhz) != kNvmlSuccess || power_usage_(device_, &milliwatts) != kNvmlSuccess)
    return false;
  sm_mhz = mhz, power_w = milliwatts / 1000.0;
  return true;
}

void GpuClockSampler::start(std::chrono::microseconds period) {
  stop();
  if (!available()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    sm_mhz_.clear(), power_w_.clear();
  }
  running_ = true;
  thread_ = std::thread([this, period] {
    while (running_) {
      double mhz = 0, watts = 0;
      if (sample(mhz, watts)) {
        std::lock_guard<std::mutex> lock(mutex_);
        sm_mhz_.push_back(mhz), power_w_.push_back(watts);
      }
      std::this_thread::sleep_for(period);
    }
  });
}

ClockSample GpuClockSampler::stop() {
  running_ = false;
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  ClockSample s;
  if (sm_mhz_.empty()) return s;
  s.sm_mhz = median(sm_mhz_), s.power_w = median(power_w_), s.samples = static_cast<int>(sm_mhz_.size());
  return s;
}

}  // namespace patchlm::kernels
