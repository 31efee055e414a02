// One warp runs one mma.sp.m16n8k32 (bf16) with all kept values 1 and B[k][n] = (k/4 == n) ? k%4 + 1 : 0, so
// D[r][n] is the sum of (index + 1) over the two positions the metadata names for group n of row r. Flipping a
// single metadata nibble shows which (row, group) that lane and nibble control.
#include <cuda_runtime.h>

#include <cstdint>

#include "mma_sp_probe.h"

namespace {

__device__ std::uint32_t bf16_pair(float lo, float hi) {
  auto bits = [](float f) { return __float_as_uint(f) >> 16; };  // exact for small integers
  return bits(lo) | bits(hi) << 16;
}

template <int SELECTOR>
__global__ void probe_kernel(const std::uint32_t* meta, float* d) {
  const int lane = threadIdx.x, g = lane / 4, t = lane % 4;
  const std::uint32_t one = bf16_pair(1.f, 1.f);
  std::uint32_t b[4];
  for (int i = 0; i < 4; ++i) {
    float v[2];
    for (int e = 0; e < 2; ++e) {
      int k = 2 * t + 8 * i + e;
      v[e] = k / 4 == g ? static_cast<float>(k % 4 + 1) : 0.f;
    }
    b[i] = bf16_pair(v[0], v[1]);
  }
  float c[4] = {0.f, 0.f, 0.f, 0.f};
  asm volatile(
      "mma.sp::ordered_metadata.sync.aligned.m16n8k32.row.col.f32.bf16.bf16.f32 "
      "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9,%10,%11}, {%0,%1,%2,%3}, %12, %13;"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(one), "r"(one), "r"(one), "r"(one), "r"(b[0]), "r"(b[1]), "r"(b[2]), "r"(b[3]), "r"(meta[lane]),
        "n"(SELECTOR));
  d[g * 8 + 2 * t] = c[0];
  d[g * 8 + 2 * t + 1] = c[1];
  d[(g + 8) * 8 + 2 * t] = c[2];
  d[(g + 8) * 8 + 2 * t + 1] = c[3];
}

}  // namespace

std::string run_mma_sp_probe(int selector, const std::uint32_t (&meta)[32], float (&d)[16 * 8]) {
  std::uint32_t* dm = nullptr;
  float* dd = nullptr;
  cudaError_t err = cudaMalloc(&dm, sizeof(meta));
  if (err == cudaSuccess) err = cudaMalloc(&dd, sizeof(d));
  if (err == cudaSuccess) err = cudaMemcpy(dm, meta, sizeof(meta), cudaMemcpyHostToDevice);
  if (err == cudaSuccess) {
    if (selector == 0)
      probe_kernel<0><<<1, 32>>>(dm, dd);
    else
      probe_kernel<1><<<1, 32>>>(dm, dd);
    err = cudaGetLastError();
  }
  if (err == cudaSuccess) err = cudaMemcpy(d, dd, sizeof(d), cudaMemcpyDeviceToHost);
  cudaFree(dm);
  cudaFree(dd);
  return err == cudaSuccess ? std::string() : std::string(cudaGetErrorString(err));
}
