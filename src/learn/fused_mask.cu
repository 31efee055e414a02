// CUDA kernels of the fused mask op: one thread per group of 4 weights, 256 groups (1 024 columns of one row) per
// block. The backward pass sums dT over a block's columns in shared memory first, then adds one value per tile and
// block to the [rows, tiles_per_row] partial sums (the caller reduces them over each tile's rows).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "learn/fused_mask_kernels.h"
#include "learn/fused_mask_group.h"

namespace patchlm {
namespace {

constexpr int kGroupsPerBlock = 256;

__device__ __forceinline__ float load(const float* p, std::int64_t i) { return p[i]; }
__device__ __forceinline__ float load(const __nv_bfloat16* p, std::int64_t i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ float load(const __half* p, std::int64_t i) { return __half2float(p[i]); }
__device__ __forceinline__ void store(float* p, std::int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void store(__nv_bfloat16* p, std::int64_t i, float v) { p[i] = __float2bfloat16(v); }
__device__ __forceinline__ void store(__half* p, std::int64_t i, float v) { p[i] = __float2half(v); }

// The soft 2:4 mask of group `group` (and its probabilities when learned).
__device__ __forceinline__ void group_mask(const FusedMaskLaunch& k, std::int64_t group, std::int64_t base,
                                           float p[6], float m[4]) {
  if (k.fixed) {  // a group's four 0/1 bytes in one 4-byte load (base is a multiple of 4)
    const unsigned bytes = *reinterpret_cast<const unsigned*>(k.fixed + base);
    for (int j = 0; j < 4; ++j) m[j] = static_cast<float>((bytes >> (8 * j)) & 0xffu);
  } else if (k.l24_bf16) {
    float l[6];
    for (int c = 0; c < 6; ++c) l[c] = __uint_as_float(static_cast<unsigned>(k.l24_bf16[group * 6 + c]) << 16);
    fused::candidate_probs(l, k.stream, group, k.kappa_over_tau, k.inv_tau, p);
    fused::soft_2to4(p, m);
  } else {
    fused::candidate_probs(k.l24 + group * 6, k.stream, group, k.kappa_over_tau, k.inv_tau, p);
    fused::soft_2to4(p, m);
  }
}

// The soft tile choice of a group's 4 weights. Tiles at least as wide as a group and a multiple of 4 (every
// default shape) hold a whole group: one load, one 32-bit division; narrower tiles fall back to one per weight.
__device__ __forceinline__ void group_tiles(const FusedMaskLaunch& k, const float* trow, int col, float t[4], int tc[4]) {
  if (k.tile_cols % 4 == 0) {
    const int c = col / static_cast<int>(k.tile_cols);
    const float v = trow ? trow[c] : 0.f;
    for (int j = 0; j < 4; ++j) t[j] = v, tc[j] = c;
  } else {
    for (int j = 0; j < 4; ++j) {
      tc[j] = (col + j) / static_cast<int>(k.tile_cols);
      t[j] = trow ? trow[tc[j]] : 0.f;
    }
  }
}

template <typename W>
__global__ void forward_kernel(FusedMaskLaunch k, W* out) {
  const std::int64_t r = blockIdx.y, groups = k.cols / 4;
  const int q = static_cast<int>(blockIdx.x) * kGroupsPerBlock + static_cast<int>(threadIdx.x);
  if (q >= groups) return;
  const std::int64_t group = r * groups + q, base = r * k.cols + 4 * q;
  const W* w = static_cast<const W*>(k.weight);
  const float* trow = k.tiles ? k.tiles + (blockIdx.y / static_cast<unsigned>(k.tile_rows)) * k.tiles_per_row : nullptr;
  float p[6], m[4], t[4];
  int tc[4];
  group_mask(k, group, base, p, m);
  group_tiles(k, trow, 4 * q, t, tc);
  for (int j = 0; j < 4; ++j) store(out, base + j, load(w, base + j) * (t[j] + (1.f - t[j]) * m[j]));
}

// Adds v to dtile[slot] for every lane, summing lanes of the same slot first: lanes hold consecutive groups, so a
// slot's lanes are contiguous, and a warp of 32 groups (128 columns) spans one or two default-sized tiles — one
// shared-memory atomic per slot instead of 128 on the same address.
__device__ __forceinline__ void add_to_slot(float* dtile, int slot, float v) {
  const int lane = static_cast<int>(threadIdx.x & 31);
  for (int off = 16; off > 0; off >>= 1) {
    const float other = __shfl_down_sync(0xffffffffu, v, off);
    const int other_slot = __shfl_down_sync(0xffffffffu, slot, off);
    if (lane + off < 32 && other_slot == slot) v += other;
  }
  const int prev_slot = __shfl_up_sync(0xffffffffu, slot, 1);
  if (slot >= 0 && (lane == 0 || prev_slot != slot)) atomicAdd(&dtile[slot], v);
}

template <typename W>
__global__ void backward_kernel(FusedMaskLaunch k, const W* dout, float* dl24, float* drows) {
  extern __shared__ float dtile[];  // the tile columns this block's 1 024 columns touch
  const std::int64_t r = blockIdx.y, groups = k.cols / 4;
  const int first_col = static_cast<int>(blockIdx.x) * kGroupsPerBlock * 4;
  const int tile_cols = static_cast<int>(k.tile_cols);
  const int first_tile = first_col / tile_cols;
  const int end_col = first_col + kGroupsPerBlock * 4 < k.cols ? first_col + kGroupsPerBlock * 4 : static_cast<int>(k.cols);
  const int span = (end_col - 1) / tile_cols - first_tile + 1;
  if (drows) {
    for (int i = threadIdx.x; i < span; i += blockDim.x) dtile[i] = 0.f;
    __syncthreads();
  }
  // Every lane takes part in the warp sums of dT; lanes past the last group add nothing (slot −1).
  const int q = static_cast<int>(blockIdx.x) * kGroupsPerBlock + static_cast<int>(threadIdx.x);
  const bool valid = q < groups;
  float dt_group = 0.f;
  int slot = -1;
  if (valid) {
    const std::int64_t group = r * groups + q, base = r * k.cols + 4 * q;
    const W* w = static_cast<const W*>(k.weight);
    const float* trow = k.tiles ? k.tiles + (blockIdx.y / static_cast<unsigned>(k.tile_rows)) * k.tiles_per_row : nullptr;
    float p[6], m[4], dm[4], t[4];
    int tc[4];
    group_mask(k, group, base, p, m);
    group_tiles(k, trow, 4 * q, t, tc);
    const float s = k.norm_grad_scale ? *k.norm_grad_scale : 0.f;
    for (int j = 0; j < 4; ++j) {
      const float wj = load(w, base + j);
      const float dM = (load(dout, base + j) + s * wj * (t[j] + (1.f - t[j]) * m[j])) * wj;
      if (drows) {
        if (k.tile_cols % 4 == 0) dt_group += dM * (1.f - m[j]);
        else atomicAdd(&dtile[tc[j] - first_tile], dM * (1.f - m[j]));
      }
      dm[j] = dM * (1.f - t[j]);
    }
    if (dl24) fused::logit_grads(p, dm, k.kappa_over_tau, dl24 + group * 6);
    slot = tc[0] - first_tile;
  }
  if (drows) {
    if (k.tile_cols % 4 == 0) add_to_slot(dtile, valid ? slot : -1, dt_group);
    __syncthreads();
    for (int i = threadIdx.x; i < span; i += blockDim.x) atomicAdd(&drows[r * k.tiles_per_row + first_tile + i], dtile[i]);
  }
}

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

dim3 grid_of(const FusedMaskLaunch& k) {
  if (k.rows > 65535) throw std::runtime_error("fused mask: more than 65 535 rows (" + std::to_string(k.rows) + ")");
  if (k.cols >= (std::int64_t{1} << 30)) throw std::runtime_error("fused mask: 2^30 columns or more");
  const std::int64_t groups = k.cols / 4;
  return dim3(static_cast<unsigned>((groups + kGroupsPerBlock - 1) / kGroupsPerBlock), static_cast<unsigned>(k.rows));
}

template <typename F>
void by_dtype(int dtype, F&& f) {
  if (dtype == 1) f(static_cast<__nv_bfloat16*>(nullptr));
  else if (dtype == 2) f(static_cast<__half*>(nullptr));
  else f(static_cast<float*>(nullptr));
}

}  // namespace

void fused_mask_forward_cuda(const FusedMaskLaunch& k, void* out) {
  if (k.rows == 0 || k.cols == 0) return;
  by_dtype(k.weight_dtype, [&](auto tag) {
    using W = std::remove_pointer_t<decltype(tag)>;
    forward_kernel<W><<<grid_of(k), kGroupsPerBlock, 0, static_cast<cudaStream_t>(k.cuda_stream)>>>(k, static_cast<W*>(out));
  });
  check(cudaGetLastError(), "fused mask forward");
}

void fused_mask_backward_cuda(const FusedMaskLaunch& k, const void* dout, float* dl24, float* drows) {
  if (k.rows == 0 || k.cols == 0) return;
  const std::size_t shared = drows ? (kGroupsPerBlock * 4 / k.tile_cols + 2) * sizeof(float) : 0;
  by_dtype(k.weight_dtype, [&](auto tag) {
    using W = std::remove_pointer_t<decltype(tag)>;
    backward_kernel<W><<<grid_of(k), kGroupsPerBlock, shared, static_cast<cudaStream_t>(k.cuda_stream)>>>(
        k, static_cast<const W*>(dout), dl24, drows);
  });
  check(cudaGetLastError(), "fused mask backward");
}

}  // namespace patchlm
