// CUDA kernel of the fused rotary embedding (model/rope.h): one thread per 8 (or, for head dims that are not a
// multiple of 16, 1) consecutive pairs (x1[i], x2[i]) of a row, reading both halves, the tables' entries and
// writing both halves of the output once.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "model/fused_elementwise.cuh"
#include "model/fused_kernels.h"

namespace patchlm {
namespace {

using fused::Pack;
using fused::from_float;
using fused::to_float;

struct Shape {
  std::int64_t heads, tokens, half;
  std::int64_t xs[3], ys[3];
};

// Thread t: row t / (half / kPairs), pairs [kPairs·j, kPairs·j + kPairs) with j = t % (half / kPairs).
template <typename T, int kPairs, bool kTranspose>
__global__ void rope_kernel(const T* __restrict__ x, T* __restrict__ y, const T* __restrict__ cos,
                            const T* __restrict__ sin, std::int64_t threads, Shape s) {
  const std::int64_t per_row = s.half / kPairs;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < threads;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t row = i / per_row, j = (i % per_row) * kPairs;
    const std::int64_t t = row % s.tokens, h = (row / s.tokens) % s.heads, b = row / (s.tokens * s.heads);
    const T* xr = x + b * s.xs[0] + h * s.xs[1] + t * s.xs[2];
    T* yr = y + b * s.ys[0] + h * s.ys[1] + t * s.ys[2];
    const T* cr = cos + t * 2 * s.half;
    const T* sr = sin + t * 2 * s.half;
    using C = Pack<T, kPairs>;
    const C x1 = *reinterpret_cast<const C*>(xr + j), x2 = *reinterpret_cast<const C*>(xr + s.half + j);
    const C c1 = *reinterpret_cast<const C*>(cr + j), c2 = *reinterpret_cast<const C*>(cr + s.half + j);
    const C s1 = *reinterpret_cast<const C*>(sr + j), s2 = *reinterpret_cast<const C*>(sr + s.half + j);
    C y1, y2;
#pragma unroll
    for (int k = 0; k < kPairs; ++k) {
      const float a = to_float(x1.v[k]), b2 = to_float(x2.v[k]);
      const float cc1 = to_float(c1.v[k]), cc2 = to_float(c2.v[k]), ss1 = to_float(s1.v[k]), ss2 = to_float(s2.v[k]);
      if (kTranspose) {
        y1.v[k] = from_float<T>(a * cc1 + b2 * ss2);
        y2.v[k] = from_float<T>(b2 * cc2 - a * ss1);
      } else {
        y1.v[k] = from_float<T>(a * cc1 - b2 * ss1);
        y2.v[k] = from_float<T>(b2 * cc2 + a * ss2);
      }
    }
    *reinterpret_cast<C*>(yr + j) = y1;
    *reinterpret_cast<C*>(yr + s.half + j) = y2;
  }
}

template <typename T, int kPairs>
void launch_typed(const RopeLaunch& k, const Shape& s) {
  const std::int64_t threads = k.batch * k.heads * k.tokens * (s.half / kPairs);
  if (threads == 0) return;
  constexpr int kBlock = 256;
  const std::int64_t blocks = (threads + kBlock - 1) / kBlock;
  const dim3 grid(static_cast<unsigned>(blocks < 132 * 64 ? blocks : 132 * 64));
  const auto stream = static_cast<cudaStream_t>(k.cuda_stream);
  const T* x = static_cast<const T*>(k.x);
  T* y = static_cast<T*>(k.y);
  const T* c = static_cast<const T*>(k.cos);
  const T* sn = static_cast<const T*>(k.sin);
  if (k.transpose) {
    rope_kernel<T, kPairs, true><<<grid, kBlock, 0, stream>>>(x, y, c, sn, threads, s);
  } else {
    rope_kernel<T, kPairs, false><<<grid, kBlock, 0, stream>>>(x, y, c, sn, threads, s);
  }
}

bool aligned(const void* p, std::size_t bytes) { return reinterpret_cast<std::uintptr_t>(p) % bytes == 0; }

template <typename T>
void launch_dtype(const RopeLaunch& k) {
  const Shape s{k.heads, k.tokens, k.head_dim / 2,
                {k.x_strides[0], k.x_strides[1], k.x_strides[2]},
                {k.y_strides[0], k.y_strides[1], k.y_strides[2]}};
  // 16-byte chunks of bf16 (8 pairs) where every row start and half stays aligned to them.
  constexpr int kWide = 16 / sizeof(T);
  bool wide = s.half % kWide == 0;
  for (const void* p : {k.x, static_cast<const void*>(k.y), k.cos, k.sin}) wide = wide && aligned(p, 16);
  for (int d = 0; d < 3; ++d) wide = wide && s.xs[d] % kWide == 0 && s.ys[d] % kWide == 0;
  if (wide) {
    launch_typed<T, kWide>(k, s);
  } else {
    launch_typed<T, 1>(k, s);
  }
}

}  // namespace

void rope_cuda(const RopeLaunch& k) {
  if (k.bf16) {
    launch_dtype<__nv_bfloat16>(k);
  } else {
    launch_dtype<float>(k);
  }
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) throw std::runtime_error(std::string("rope: ") + cudaGetErrorString(err));
}

}  // namespace patchlm
