#include "kernels/device_check.h"

#include <cuda_runtime.h>

#include <cstdint>
#include <sstream>

namespace patchlm::kernels {
namespace {

// y[i] = a * x[i] + y[i] with small integers, so the expected value is exact in fp32.
__global__ void axpy_kernel(int n, float a, const float* x, float* y) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + y[i];
}

std::string cuda_error(const char* what, cudaError_t err) {
  std::ostringstream os;
  os << what << ": " << cudaGetErrorString(err);
  return os.str();
}

}  // namespace

CudaStatus query_cuda() {
  CudaStatus status;
  cudaDriverGetVersion(&status.driver_version);
  cudaRuntimeGetVersion(&status.runtime_version);
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    status.reason = status.driver_version == 0 ? "no CUDA driver on this machine" : cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky error for later callers
    return status;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    status.devices.push_back({i, prop.name, prop.major, prop.minor, prop.multiProcessorCount, prop.totalGlobalMem});
  }
  status.available = !status.devices.empty();
  if (!status.available) status.reason = "no CUDA device";
  return status;
}

std::vector<std::string> compiled_architectures() { return {"sm_80", "sm_90a"}; }

std::string run_device_self_check(int device) {
  constexpr int n = 1 << 20;
  if (cudaError_t err = cudaSetDevice(device); err != cudaSuccess) return cuda_error("cudaSetDevice", err);
  std::vector<float> x(n), y(n);
  for (int i = 0; i < n; ++i) {
    x[i] = static_cast<float>(i % 1024);
    y[i] = static_cast<float>(i % 7);
  }
  float *dx = nullptr, *dy = nullptr;
  std::string problem;
  auto check = [&](const char* what, cudaError_t err) {
    if (err != cudaSuccess && problem.empty()) problem = cuda_error(what, err);
    return problem.empty();
  };
  if (check("cudaMalloc", cudaMalloc(&dx, n * sizeof(float))) &&
      check("cudaMalloc", cudaMalloc(&dy, n * sizeof(float))) &&
      check("cudaMemcpy", cudaMemcpy(dx, x.data(), n * sizeof(float), cudaMemcpyHostToDevice)) &&
      check("cudaMemcpy", cudaMemcpy(dy, y.data(), n * sizeof(float), cudaMemcpyHostToDevice))) {
    axpy_kernel<<<(n + 255) / 256, 256>>>(n, 3.0f, dx, dy);
    if (check("kernel launch", cudaGetLastError()) && check("kernel", cudaDeviceSynchronize())) {
      std::vector<float> out(n);
      if (check("cudaMemcpy", cudaMemcpy(out.data(), dy, n * sizeof(float), cudaMemcpyDeviceToHost))) {
        for (int i = 0; i < n && problem.empty(); ++i) {
          float want = 3.0f * x[i] + y[i];
          if (out[i] != want) {
            std::ostringstream os;
            os << "wrong result at element " << i << ": got " << out[i] << ", want " << want;
            problem = os.str();
          }
        }
      }
    }
  }
  cudaFree(dx);
  cudaFree(dy);
  return problem;
}

}  // namespace patchlm::kernels
