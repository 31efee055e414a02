// CUDA kernel of cross_entropy_rows: one block per row of bf16 logits. Pass 1 folds the row into a running
// (max, Σ exp) pair per thread, reduced over the block into logsumexp; thread 0 reads the target's logit before the
// barrier that ends the pass. Pass 2 writes (softmax − onehot) · grad_scale (· the soft-cap's derivative) over the
// logits. Rows of a multiple of 8 logits move as 16-byte vectors.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "learn/cross_entropy_rows_kernels.h"

namespace patchlm {
namespace {

constexpr int kThreads = 512;

struct RowArgs {
  float cap;          // ≤ 0: none
  float grad_scale;
  bool with_grad;
};

__device__ __forceinline__ float capped(float z, float cap) { return cap > 0.f ? cap * tanhf(z / cap) : z; }

// Running (max, Σ exp(x − max)) of a stream of values.
struct MaxSum {
  float max = -INFINITY, sum = 0.f;
  __device__ __forceinline__ void add(float x) {
    if (x > max) {
      sum = sum * __expf(max - x) + 1.f;
      max = x;
    } else {
      sum += __expf(x - max);
    }
  }
  __device__ __forceinline__ void merge(float other_max, float other_sum) {
    if (other_sum == 0.f) return;
    if (sum == 0.f) {
      max = other_max;
      sum = other_sum;
      return;
    }
    const float m = fmaxf(max, other_max);
    sum = sum * __expf(max - m) + other_sum * __expf(other_max - m);
    max = m;
  }
};

__device__ float block_logsumexp(MaxSum ms) {
  __shared__ float warp_max[kThreads / 32], warp_sum[kThreads / 32];
  __shared__ float lse;
  for (int offset = 16; offset > 0; offset /= 2) {
    const float m = __shfl_xor_sync(0xffffffffu, ms.max, offset), s = __shfl_xor_sync(0xffffffffu, ms.sum, offset);
    ms.merge(m, s);
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) {
    warp_max[warp] = ms.max;
    warp_sum[warp] = ms.sum;
  }
  __syncthreads();
  if (warp == 0) {
    MaxSum total;
    if (lane < kThreads / 32) total.merge(warp_max[lane], warp_sum[lane]);
    for (int offset = 16; offset > 0; offset /= 2) {
      const float m = __shfl_xor_sync(0xffffffffu, total.max, offset);
      const float s = __shfl_xor_sync(0xffffffffu, total.sum, offset);
      total.merge(m, s);
    }
    if (lane == 0) lse = total.max + logf(total.sum);
  }
  __syncthreads();
  return lse;
}

__device__ __forceinline__ float gradient(float x, float lse, bool is_target, const RowArgs& a) {
  float g = __expf(x - lse) - (is_target ? 1.f : 0.f);
  if (a.cap > 0.f) {
    const float t = x / a.cap;
    g *= 1.f - t * t;
  }
  return g * a.grad_scale;
}

// kVector: 8 logits per 16-byte access (vocab % 8 == 0, aligned rows).
template <bool kVector>
__global__ void cross_entropy_rows_kernel(__nv_bfloat16* logits, const std::int64_t* targets, float* loss,
                                          std::int64_t vocab, RowArgs a) {
  __nv_bfloat16* z = logits + static_cast<std::int64_t>(blockIdx.x) * vocab;
  const std::int64_t y = targets[blockIdx.x];
  MaxSum ms;
  if constexpr (kVector) {
    const uint4* zv = reinterpret_cast<const uint4*>(z);
    for (std::int64_t v = threadIdx.x; v < vocab / 8; v += kThreads) {
      const uint4 raw = zv[v];
      const __nv_bfloat16* e = reinterpret_cast<const __nv_bfloat16*>(&raw);
      for (int j = 0; j < 8; ++j) ms.add(capped(__bfloat162float(e[j]), a.cap));
    }
  } else {
    for (std::int64_t i = threadIdx.x; i < vocab; i += kThreads) ms.add(capped(__bfloat162float(z[i]), a.cap));
  }
  float picked = 0.f;
  if (threadIdx.x == 0) picked = (y >= 0 && y < vocab) ? capped(__bfloat162float(z[y]), a.cap) : NAN;
  const float lse = block_logsumexp(ms);  // ends with a barrier: every read of the row's logits is done
  if (threadIdx.x == 0) loss[blockIdx.x] = lse - picked;
  if (!a.with_grad) return;
  if constexpr (kVector) {
    uint4* zv = reinterpret_cast<uint4*>(z);
    for (std::int64_t v = threadIdx.x; v < vocab / 8; v += kThreads) {
      uint4 raw = zv[v];
      __nv_bfloat16* e = reinterpret_cast<__nv_bfloat16*>(&raw);
      for (int j = 0; j < 8; ++j) {
        e[j] = __float2bfloat16(gradient(capped(__bfloat162float(e[j]), a.cap), lse, 8 * v + j == y, a));
      }
      zv[v] = raw;
    }
  } else {
    for (std::int64_t i = threadIdx.x; i < vocab; i += kThreads) {
      z[i] = __float2bfloat16(gradient(capped(__bfloat162float(z[i]), a.cap), lse, i == y, a));
    }
  }
}

}  // namespace

void cross_entropy_rows_cuda(const CrossEntropyRowsLaunch& k) {
  if (k.rows <= 0) return;
  const auto stream = static_cast<cudaStream_t>(k.cuda_stream);
  auto* logits = static_cast<__nv_bfloat16*>(k.logits);
  const RowArgs a{k.softcap, k.grad_scale, k.with_grad};
  const bool vector = k.vocab % 8 == 0 && reinterpret_cast<std::uintptr_t>(logits) % 16 == 0;
  const dim3 grid(static_cast<unsigned>(k.rows));
  if (vector) {
    cross_entropy_rows_kernel<true><<<grid, kThreads, 0, stream>>>(logits, k.targets, k.loss, k.vocab, a);
  } else {
    cross_entropy_rows_kernel<false><<<grid, kThreads, 0, stream>>>(logits, k.targets, k.loss, k.vocab, a);
  }
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) throw std::runtime_error(std::string("cross_entropy_rows: ") + cudaGetErrorString(err));
}

}  // namespace patchlm
