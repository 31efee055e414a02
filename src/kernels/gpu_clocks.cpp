#include "kernels/gpu_clocks.h"

#include <dlfcn.h>

#include <algorithm>

namespace patchlm::kernels {
namespace {

constexpr int kNvmlSuccess = 0;
constexpr int kNvmlClockSm = 1;  // nvmlClockType_t NVML_CLOCK_SM
constexpr unsigned kNvmlFieldPowerInstant = 186;  // NVML_FI_DEV_POWER_INSTANT, milliwatts

// nvmlFieldValue_t as nvml.h lays it out (the header is not on the build machines; NVML keeps this ABI).
union NvmlValue {
  double d;
  unsigned ui;
  unsigned long ul;
  unsigned long long ull;
  long long sll;
  int si;
  unsigned short us;
};
struct NvmlFieldValue {
  unsigned field_id;
  unsigned scope_id;
  long long timestamp;
  long long latency_us;
  int value_type;  // nvmlValueType_t
  int result;      // nvmlReturn_t of this field
  NvmlValue value;
};
static_assert(sizeof(NvmlFieldValue) == 40, "nvmlFieldValue_t is 40 bytes");

// A field value as a number, whichever of nvmlValueType_t's types it came in.
double field_number(const NvmlFieldValue& f) {
  switch (f.value_type) {
    case 0: return f.value.d;
    case 1: return f.value.ui;
    case 2: return static_cast<double>(f.value.ul);
    case 3: return static_cast<double>(f.value.ull);
    case 4: return static_cast<double>(f.value.sll);
    case 5: return f.value.si;
    case 6: return f.value.us;
    default: return -1;
  }
}

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
  if (by_bus_id(pci_bus_id.c_str(), &device) != kNvmlSuccess) {
    shutdown_();
    return;
  }
  device_ = device;
  // The instant field where this driver and device read it; else the 1-second average.
  field_values_ = symbol<int (*)(void*, int, void*)>(library_, "nvmlDeviceGetFieldValues");
  unsigned milliwatts = 0;
  if (field_values_ != nullptr && !instant_power(milliwatts)) field_values_ = nullptr;
}

bool GpuClockSampler::instant_power(unsigned& milliwatts) const {
  NvmlFieldValue f{};
  f.field_id = kNvmlFieldPowerInstant;
  if (field_values_(device_, 1, &f) != kNvmlSuccess || f.result != kNvmlSuccess) return false;
  const double value = field_number(f);
  if (value < 0) return false;
  milliwatts = static_cast<unsigned>(value);
  return true;
}

GpuClockSampler::~GpuClockSampler() {
  stop();
  if (device_ != nullptr) shutdown_();
  if (library_ != nullptr) dlclose(library_);
}

bool GpuClockSampler::sample(double& sm_mhz, double& power_w) const {
  unsigned mhz = 0, milliwatts = 0;
  if (clock_info_(device_, kNvmlClockSm, &mhz) != kNvmlSuccess) return false;
  if (field_values_ != nullptr ? !instant_power(milliwatts) : power_usage_(device_, &milliwatts) != kNvmlSuccess)
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
  s.power_instant = power_instant();
  if (sm_mhz_.empty()) return s;
  s.sm_mhz = median(sm_mhz_), s.power_w = median(power_w_), s.samples = static_cast<int>(sm_mhz_.size());
  return s;
}

}  // namespace patchlm::kernels
