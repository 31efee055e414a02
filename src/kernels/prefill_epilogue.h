#pragma once
// The prefill kernel's epilogue (hybrid_prefill.cu): an output tile's fp32 accumulators → y as bf16, straight from the
// registers of wgmma's accumulator layout. Device code (sm_90), included from .cu files.
#include <cuda_bf16.h>

#include <cstdint>

namespace patchlm::kernels {

__device__ __forceinline__ std::uint32_t bf16_pair(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const std::uint32_t*>(&v);
}

// One 8-token group j of an output tile → y: the accumulators acc[4j … 4j + 3] = v (row 16·w + g (+8), token 8·j + 2·t
// (+1)). Neighbouring rows g, g + 1 swap one value (lanes 4 apart) so that each thread stores bf16 pairs of adjacent
// rows.
__device__ __forceinline__ void store_group(float4 v, int j, std::uint16_t* y, std::int64_t rows, std::int64_t row0,
                                            std::int64_t tok0, std::int64_t tokens, int warp, int lane) {
  const int g = lane / 4, t = lane % 4, odd = g & 1;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const float v0 = h == 0 ? v.x : v.z, v1 = h == 0 ? v.y : v.w;  // (row, n), (row, n + 1)
    const float other = __shfl_xor_sync(0xFFFFFFFF, odd ? v0 : v1, 4);
    const std::int64_t tok = tok0 + 8 * j + 2 * t + odd;
    const std::int64_t row = row0 + 16 * warp + (g & ~1) + 8 * h;
    if (tok < tokens)
      *reinterpret_cast<std::uint32_t*>(y + tok * rows + row) = odd ? bf16_pair(other, v1) : bf16_pair(v0, other);
  }
}

// A whole output tile → y.
template <int N>
__device__ __forceinline__ void store_tile(const float* acc, std::uint16_t* y, std::int64_t rows, std::int64_t row0,
                                           std::int64_t tok0, std::int64_t tokens, int warp, int lane) {
#pragma unroll
  for (int j = 0; j < N / 8; ++j)
    store_group(make_float4(acc[4 * j], acc[4 * j + 1], acc[4 * j + 2], acc[4 * j + 3]), j, y, rows, row0, tok0, tokens,
                warp, lane);
}

}  // namespace patchlm::kernels
