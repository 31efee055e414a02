#pragma once
// What the decoder's fused elementwise kernels (rope.cu, gated_activation.cu) share: fp32 math on bf16 or fp32
// storage, and packs of consecutive elements moved as one aligned access.
#include <cuda_bf16.h>

namespace patchlm::fused {

__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_float(float v) { return v; }

template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16(v); }
template <>
__device__ __forceinline__ float from_float<float>(float v) { return v; }

// kWidth consecutive elements; 16 bytes (one vector access) when kWidth = 16 / sizeof(T).
template <typename T, int kWidth>
struct alignas(sizeof(T) * kWidth) Pack {
  T v[kWidth];
};

}  // namespace patchlm::fused
