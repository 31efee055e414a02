#pragma once
// The SM clock and board power while an op runs, sampled through NVML — the driver's libnvidia-ml, opened at run time:
// patchlm neither links it nor needs it (without it, or on any NVML error, no samples are taken). For bench gemm: an
// H100 or H200 runs every long GEMM at its power limit, each op at the clock its own power draw allows, so a time ratio
// mixes work per clock with the clock (docs/performance.md, step 30: 4096×11008 at 512 tokens ran 1.03× cuBLAS's work
// per clock and lost 0.89× on the clock). Power is NVML's instantaneous reading (field NVML_FI_DEV_POWER_INSTANT) where
// the driver has it: nvmlDeviceGetPowerUsage, the fallback, averages over the last second on Ampere (but GA100) and
// newer, so an op timed for less than a second reads partly the op before it (cuBLAS read 280–510 W at 100 ms of
// settling on an H100 where it holds 700 W after 2 s). Torch- and CUDA-free.
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace patchlm::kernels {

// Medians over the samples taken; samples == 0: none (no NVML, or the period ended before the first).
// power_instant: power_w is of instantaneous readings; false: of NVML's 1-second averages (no instant field).
struct ClockSample {
  double sm_mhz = 0;
  double power_w = 0;
  int samples = 0;
  bool power_instant = false;
};

class GpuClockSampler {
 public:
  // pci_bus_id: the device's, as cudaDeviceGetPCIBusId writes it ("0000:19:00.0"); library: NVML's shared object.
  explicit GpuClockSampler(const std::string& pci_bus_id, const std::string& library = "libnvidia-ml.so.1");
  ~GpuClockSampler();
  GpuClockSampler(const GpuClockSampler&) = delete;
  GpuClockSampler& operator=(const GpuClockSampler&) = delete;

  bool available() const { return device_ != nullptr; }
  // Whether power comes from the instantaneous field (else from the 1-second average).
  bool power_instant() const { return field_values_ != nullptr; }
  // Samples every `period` on a thread of its own until stop(); a no-op where NVML is not available.
  void start(std::chrono::microseconds period = std::chrono::microseconds(5000));
  ClockSample stop();

 private:
  bool sample(double& sm_mhz, double& power_w) const;
  bool instant_power(unsigned& milliwatts) const;

  void* library_ = nullptr;
  void* device_ = nullptr;  // nvmlDevice_t
  int (*clock_info_)(void*, int, unsigned*) = nullptr;
  int (*power_usage_)(void*, unsigned*) = nullptr;
  int (*field_values_)(void*, int, void*) = nullptr;  // nvmlDeviceGetFieldValues, where the instant field reads
  int (*shutdown_)() = nullptr;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::mutex mutex_;
  std::vector<double> sm_mhz_, power_w_;
};

}  // namespace patchlm::kernels
