// A stand-in for the driver's libnvidia-ml with the six calls GpuClockSampler makes (tests/kernels/test_gpu_clocks.cpp):
// two devices whose SM clock reads 1400, 1500, 1600, 1400, ... MHz and whose power averaged over a second reads 700 W;
// the one at bus 0000:01:00.0 reads 650 W as its instantaneous power (NVML_FI_DEV_POWER_INSTANT, as an unsigned
// long long), the one at 0000:03:00.0 has no instantaneous reading (the field's result NVML_ERROR_NOT_SUPPORTED).
#include <atomic>
#include <cstring>

namespace {
std::atomic<unsigned> calls{0};
int device_handle, averaged_only_handle;

// nvmlFieldValue_t (nvml.h)
struct FieldValue {
  unsigned field_id, scope_id;
  long long timestamp, latency_us;
  int value_type, result;
  union {
    double d;
    unsigned long long ull;
  } value;
};
bool known(void* device) { return device == &device_handle || device == &averaged_only_handle; }
}  // namespace

extern "C" {

int nvmlInit_v2(void) { return 0; }
int nvmlShutdown(void) { return 0; }
int nvmlDeviceGetHandleByPciBusId_v2(const char* bus_id, void** device) {
  if (std::strcmp(bus_id, "0000:01:00.0") == 0) *device = &device_handle;
  else if (std::strcmp(bus_id, "0000:03:00.0") == 0) *device = &averaged_only_handle;
  else return 6;  // NVML_ERROR_NOT_FOUND
  return 0;
}
int nvmlDeviceGetClockInfo(void* device, int type, unsigned* mhz) {
  if (!known(device) || type != 1) return 2;  // NVML_ERROR_INVALID_ARGUMENT
  *mhz = 1400 + 100 * (calls++ % 3);
  return 0;
}
int nvmlDeviceGetPowerUsage(void* device, unsigned* milliwatts) {
  if (!known(device)) return 2;
  *milliwatts = 700000;
  return 0;
}
int nvmlDeviceGetFieldValues(void* device, int count, FieldValue* values) {
  if (!known(device) || count < 1) return 2;
  for (int i = 0; i < count; ++i) {
    FieldValue& f = values[i];
    f.result = 3;  // NVML_ERROR_NOT_SUPPORTED
    if (f.field_id != 186 || device != &device_handle) continue;
    f.result = 0, f.value_type = 3, f.value.ull = 650000;
  }
  return 0;
}
}  // extern "C"
