// A stand-in for the driver's libnvidia-ml with the five calls GpuClockSampler makes (tests/kernels/test_gpu_clocks.cpp):
// one device, at bus 0000:01:00.0, whose SM clock reads 1400, 1500, 1600, 1400, ... MHz and whose power 700 W.
#include <atomic>
#include <cstring>

namespace {
std::atomic<unsigned> calls{0};
int device_handle;
}  // namespace

extern "C" {

int nvmlInit_v2(void) { return 0; }
int nvmlShutdown(void) { return 0; }
int nvmlDeviceGetHandleByPciBusId_v2(const char* bus_id, void** device) {
  if (std::strcmp(bus_id, "0000:01:00.0") != 0) return 6;  // NVML_ERROR_NOT_FOUND
  *device = &device_handle;
  return 0;
}
int nvmlDeviceGetClockInfo(void* device, int type, unsigned* mhz) {
  if (device != &device_handle || type != 1) return 2;  // NVML_ERROR_INVALID_ARGUMENT
  *mhz = 1400 + 100 * (calls++ % 3);
  return 0;
}
int nvmlDeviceGetPowerUsage(void* device, unsigned* milliwatts) {
  if (device != &device_handle) return 2;
  *milliwatts = 700000;
  return 0;
}
}  // extern "C"
