// CUDA kernels of the fused mask op: a block of 256 threads covers 256 groups of 4 weights (1 024 columns) of
// kRowsPerBlock rows; each thread takes its group in each of those rows, loading all of them before any arithmetic
// (vector loads of a group's 4 weights, its gradient and its fixed-mask bytes) so that several independent loads are
// in flight per thread, and works out its tile columns once. The forward pass also sums the squares of what it
// writes per block (‖W ⊙ M‖ without a second pass). The backward pass sums dT over a block's columns — and over its
// rows where they lie in one tile row — in registers and shared memory, then adds one value per tile column to the
// partial sums (the caller reduces them over each tile's rows).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "learn/fused_mask_kernels.h"
#include "learn/fused_mask_group.h"

namespace patchlm {
namespace {

constexpr int kGroupsPerBlock = 256;
constexpr int kRowsPerBlock = 4;

// Conversions of the 16-bit element types (bf16, fp16) to and from fp32: one value, or two packed in 32 bits.
template <typename H>
__device__ __forceinline__ float widen(H v) {
  if constexpr (std::is_same_v<H, __half>) return __half2float(v);
  else return __bfloat162float(v);
}
template <typename H>
__device__ __forceinline__ H narrow(float v) {
  if constexpr (std::is_same_v<H, __half>) return __float2half(v);
  else return __float2bfloat16(v);
}
template <typename H>
__device__ __forceinline__ float2 widen_pair(unsigned bits) {
  if constexpr (std::is_same_v<H, __half>) return __half22float2(*reinterpret_cast<const __half2*>(&bits));
  else return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&bits));
}
template <typename H>
__device__ __forceinline__ unsigned narrow_pair(float a, float b) {
  if constexpr (std::is_same_v<H, __half>) {
    const __half2 v = __floats2half2_rn(a, b);
    return *reinterpret_cast<const unsigned*>(&v);
  } else {
    const __nv_bfloat162 v = __floats2bfloat162_rn(a, b);
    return *reinterpret_cast<const unsigned*>(&v);
  }
}

// A group's 4 consecutive values from i on (i a multiple of 4): one 8-byte (16-bit types) or 16-byte (fp32) access
// where the tensor's base is aligned for it (kVec), four scalar ones otherwise.
template <bool kVec>
__device__ __forceinline__ void load4(const float* p, std::int64_t i, float v[4]) {
  if constexpr (kVec) {
    const float4 x = *reinterpret_cast<const float4*>(p + i);
    v[0] = x.x, v[1] = x.y, v[2] = x.z, v[3] = x.w;
  } else {
    for (int j = 0; j < 4; ++j) v[j] = p[i + j];
  }
}
template <bool kVec, typename H>
__device__ __forceinline__ void load4(const H* p, std::int64_t i, float v[4]) {
  if constexpr (kVec) {
    const uint2 x = *reinterpret_cast<const uint2*>(p + i);
    const float2 a = widen_pair<H>(x.x), b = widen_pair<H>(x.y);
    v[0] = a.x, v[1] = a.y, v[2] = b.x, v[3] = b.y;
  } else {
    for (int j = 0; j < 4; ++j) v[j] = widen(p[i + j]);
  }
}
template <bool kVec>
__device__ __forceinline__ void store4(float* p, std::int64_t i, const float v[4]) {
  if constexpr (kVec) *reinterpret_cast<float4*>(p + i) = make_float4(v[0], v[1], v[2], v[3]);
  else for (int j = 0; j < 4; ++j) p[i + j] = v[j];
}
template <bool kVec, typename H>
__device__ __forceinline__ void store4(H* p, std::int64_t i, const float v[4]) {
  if constexpr (kVec) *reinterpret_cast<uint2*>(p + i) = make_uint2(narrow_pair<H>(v[0], v[1]), narrow_pair<H>(v[2], v[3]));
  else for (int j = 0; j < 4; ++j) p[i + j] = narrow<H>(v[j]);
}

// The soft 2:4 mask of group `group` (and its probabilities when learned); `fixed_word`: the group's four 0/1 bytes
// of a fixed mask, loaded beforehand as one word (base is a multiple of 4).
__device__ __forceinline__ void group_mask(const FusedMaskLaunch& k, std::int64_t group, unsigned fixed_word,
                                           float p[6], float m[4]) {
  if (k.fixed) {
    for (int j = 0; j < 4; ++j) m[j] = static_cast<float>((fixed_word >> (8 * j)) & 0xffu);
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

__device__ __forceinline__ unsigned fixed_word_at(const FusedMaskLaunch& k, std::int64_t base) {
  return k.fixed ? *reinterpret_cast<const unsigned*>(k.fixed + base) : 0u;
}

// The soft tile choice of a group's 4 weights in tile-probability row `trow` (null: none), from the group's tile
// columns tc (tile_columns).
__device__ __forceinline__ void group_tiles(const float* trow, const int tc[4], float t[4]) {
  for (int j = 0; j < 4; ++j) t[j] = trow ? trow[tc[j]] : 0.f;
}

// The tile column of each of the 4 weights from column `col` on: one 32-bit division where tiles are a multiple of
// 4 wide (every default shape: a group lies in one tile), one per weight otherwise. Computed once per thread: a
// thread keeps its columns for all its rows.
__device__ __forceinline__ void tile_columns(const FusedMaskLaunch& k, int col, int tc[4]) {
  const int tile_cols = static_cast<int>(k.tile_cols);
  if (tile_cols % 4 == 0) {
    const int c = col / tile_cols;
    for (int j = 0; j < 4; ++j) tc[j] = c;
  } else {
    for (int j = 0; j < 4; ++j) tc[j] = (col + j) / tile_cols;
  }
}

// The tile-probability row of weight row r (null without tiles); rows < 2^31.
__device__ __forceinline__ const float* tile_row(const FusedMaskLaunch& k, int r) {
  return k.tiles ? k.tiles + (r / static_cast<int>(k.tile_rows)) * k.tiles_per_row : nullptr;
}

// The value a stored output holds (its rounding to W), for ‖out‖.
__device__ __forceinline__ float stored(float v, const float*) { return v; }
template <typename H>
__device__ __forceinline__ float stored(float v, const H*) { return widen(narrow<H>(v)); }

// The block's sum of `v` over its threads in a fixed order (deterministic), valid in thread 0.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float warp_sums[kGroupsPerBlock / 32];
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  if ((threadIdx.x & 31) == 0) warp_sums[threadIdx.x / 32] = v;
  __syncthreads();
  float sum = 0.f;
  if (threadIdx.x == 0)
    for (int i = 0; i < kGroupsPerBlock / 32; ++i) sum += warp_sums[i];
  return sum;
}

// The rows of block row r0 (kRowsPerBlock but in the last block).
__device__ __forceinline__ int block_rows(const FusedMaskLaunch& k, int r0) {
  return static_cast<int>(k.rows) - r0 < kRowsPerBlock ? static_cast<int>(k.rows) - r0 : kRowsPerBlock;
}

// Every load of a thread's group in the block's rows, issued before any arithmetic so that they are in flight
// together: the weights, the fixed-mask bytes and, in the backward pass (dout), the output's gradient.
template <bool kVec, typename W>
__device__ __forceinline__ void load_rows(const FusedMaskLaunch& k, int r0, int rows, int q, const W* dout,
                                          float wv[][4], float dv[][4], unsigned fixed[]) {
#pragma unroll
  for (int i = 0; i < kRowsPerBlock; ++i) {
    if (i >= rows) break;
    const std::int64_t base = static_cast<std::int64_t>(r0 + i) * k.cols + 4 * q;
    load4<kVec>(static_cast<const W*>(k.weight), base, wv[i]);
    if (dout) load4<kVec>(dout, base, dv[i]);
    fixed[i] = fixed_word_at(k, base);
  }
}

template <typename W, bool kVec>
__global__ void forward_kernel(FusedMaskLaunch k, W* out) {
  const int groups = static_cast<int>(k.cols / 4), r0 = static_cast<int>(blockIdx.y) * kRowsPerBlock;
  const int q = static_cast<int>(blockIdx.x) * kGroupsPerBlock + static_cast<int>(threadIdx.x);
  const bool valid = q < groups;  // lanes past the last group still take part in the block's norm sum
  const int rows = block_rows(k, r0);
  const W* w = static_cast<const W*>(k.weight);
  float wv[kRowsPerBlock][4];
  unsigned fixed[kRowsPerBlock];
  if (valid) load_rows<kVec, W>(k, r0, rows, q, nullptr, wv, nullptr, fixed);
  int tc[4];
  tile_columns(k, 4 * q, tc);
  float square_sum = 0.f;
#pragma unroll
  for (int i = 0; i < kRowsPerBlock; ++i) {
    if (!valid || i >= rows) break;
    const int r = r0 + i;
    const std::int64_t base = static_cast<std::int64_t>(r) * k.cols + 4 * q;
    float p[6], m[4], t[4], o[4];
    group_mask(k, static_cast<std::int64_t>(r) * groups + q, fixed[i], p, m);
    group_tiles(tile_row(k, r), tc, t);
    for (int j = 0; j < 4; ++j) {
      o[j] = wv[i][j] * (t[j] + (1.f - t[j]) * m[j]);
      const float v = stored(o[j], w);
      square_sum += v * v;
    }
    store4<kVec>(out, base, o);
  }
  if (k.norm_partials) {
    const float sum = block_sum(square_sum);
    if (threadIdx.x == 0) k.norm_partials[blockIdx.y * gridDim.x + blockIdx.x] = sum;
  }
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

// Rows whose dT one partial sum of the backward pass holds: a block's rows together where they lie in one tile row.
__host__ __device__ __forceinline__ int rows_per_partial(std::int64_t tile_rows) {
  return tile_rows % kRowsPerBlock == 0 ? kRowsPerBlock : 1;
}

template <typename W, bool kVec>
__global__ void backward_kernel(FusedMaskLaunch k, const W* dout, float* dl24, float* drows) {
  // dtile: [partials of this block][span], the tile columns this block's 1 024 columns touch.
  extern __shared__ float dtile[];
  const int groups = static_cast<int>(k.cols / 4), r0 = static_cast<int>(blockIdx.y) * kRowsPerBlock;
  const int rows = block_rows(k, r0);
  const bool together = rows_per_partial(k.tile_rows) == kRowsPerBlock;  // one partial for the block's rows
  const int partials = together ? 1 : rows;
  const int first_col = static_cast<int>(blockIdx.x) * kGroupsPerBlock * 4;
  const int tile_cols = static_cast<int>(k.tile_cols);
  const int first_tile = first_col / tile_cols;
  const int end_col = first_col + kGroupsPerBlock * 4 < k.cols ? first_col + kGroupsPerBlock * 4 : static_cast<int>(k.cols);
  const int span = (end_col - 1) / tile_cols - first_tile + 1;
  if (drows) {
    for (int i = threadIdx.x; i < partials * span; i += blockDim.x) dtile[i] = 0.f;
    __syncthreads();
  }
  // Every lane takes part in the warp sums of dT; lanes past the last group add nothing (slot −1).
  const int q = static_cast<int>(blockIdx.x) * kGroupsPerBlock + static_cast<int>(threadIdx.x);
  const bool valid = q < groups;
  // The weight regulariser's gradient: dout + s·(W ⊙ M), s = dL/d‖W ⊙ M‖ ÷ ‖W ⊙ M‖ (0 where the norm is 0).
  const float norm = k.norm ? *k.norm : 0.f;
  const float s = norm > 0.f ? *k.norm_grad / norm : 0.f;
  float wv[kRowsPerBlock][4], dv[kRowsPerBlock][4];
  unsigned fixed[kRowsPerBlock];
  if (valid) load_rows<kVec, W>(k, r0, rows, q, dout, wv, dv, fixed);
  int tc[4];
  tile_columns(k, 4 * q, tc);
  const int slot = valid ? tc[0] - first_tile : -1;
  float dt_group = 0.f;
#pragma unroll
  for (int i = 0; i < kRowsPerBlock; ++i) {
    if (i >= rows) break;
    const int r = r0 + i;
    float* dtile_row = dtile + (together ? 0 : i * span);
    if (valid) {
      const std::int64_t group = static_cast<std::int64_t>(r) * groups + q;
      float p[6], m[4], dm[4], t[4];
      group_mask(k, group, fixed[i], p, m);
      group_tiles(tile_row(k, r), tc, t);
      for (int j = 0; j < 4; ++j) {
        const float wj = wv[i][j];
        const float dM = (dv[i][j] + s * wj * (t[j] + (1.f - t[j]) * m[j])) * wj;
        if (drows) {
          if (tile_cols % 4 == 0) dt_group += dM * (1.f - m[j]);
          else atomicAdd(&dtile_row[tc[j] - first_tile], dM * (1.f - m[j]));
        }
        dm[j] = dM * (1.f - t[j]);
      }
      if (dl24) fused::logit_grads(p, dm, k.kappa_over_tau, dl24 + group * 6);
    }
    if (drows && tile_cols % 4 == 0 && (!together || i + 1 == rows)) {
      add_to_slot(dtile_row, slot, dt_group);
      dt_group = 0.f;
    }
  }
  if (drows) {
    __syncthreads();
    const std::int64_t first_partial = together ? blockIdx.y : r0;
    for (int i = threadIdx.x; i < partials * span; i += blockDim.x)
      atomicAdd(&drows[(first_partial + i / span) * k.tiles_per_row + first_tile + i % span], dtile[i]);
  }
}

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

dim3 grid_of(const FusedMaskLaunch& k) {
  const std::int64_t row_blocks = (k.rows + kRowsPerBlock - 1) / kRowsPerBlock;
  if (row_blocks > 65535) throw std::runtime_error("fused mask: more than 262 140 rows (" + std::to_string(k.rows) + ")");
  if (k.cols >= (std::int64_t{1} << 30)) throw std::runtime_error("fused mask: 2^30 columns or more");
  const std::int64_t groups = k.cols / 4;
  return dim3(static_cast<unsigned>((groups + kGroupsPerBlock - 1) / kGroupsPerBlock), static_cast<unsigned>(row_blocks));
}

// Whether every tensor a group is read from or written to as one vector is aligned for it (4 values of W).
bool vector_aligned(std::size_t bytes_per_group, std::initializer_list<const void*> pointers) {
  for (const void* p : pointers)
    if (p && reinterpret_cast<std::uintptr_t>(p) % bytes_per_group != 0) return false;
  return true;
}

template <typename F>
void by_dtype(int dtype, F&& f) {
  if (dtype == 1) f(static_cast<__nv_bfloat16*>(nullptr));
  else if (dtype == 2) f(static_cast<__half*>(nullptr));
  else f(static_cast<float*>(nullptr));
}

}  // namespace

std::int64_t fused_mask_cuda_blocks(const FusedMaskLaunch& k) {
  const dim3 g = grid_of(k);
  return static_cast<std::int64_t>(g.x) * g.y;
}

std::int64_t fused_mask_cuda_rows_per_partial(std::int64_t tile_rows) { return rows_per_partial(tile_rows); }

void fused_mask_forward_cuda(const FusedMaskLaunch& k, void* out) {
  if (k.rows == 0 || k.cols == 0) return;
  by_dtype(k.weight_dtype, [&](auto tag) {
    using W = std::remove_pointer_t<decltype(tag)>;
    const auto stream = static_cast<cudaStream_t>(k.cuda_stream);
    if (vector_aligned(4 * sizeof(W), {k.weight, out}))
      forward_kernel<W, true><<<grid_of(k), kGroupsPerBlock, 0, stream>>>(k, static_cast<W*>(out));
    else
      forward_kernel<W, false><<<grid_of(k), kGroupsPerBlock, 0, stream>>>(k, static_cast<W*>(out));
  });
  check(cudaGetLastError(), "fused mask forward");
}

void fused_mask_backward_cuda(const FusedMaskLaunch& k, const void* dout, float* dl24, float* drows) {
  if (k.rows == 0 || k.cols == 0) return;
  const std::size_t shared = drows ? kRowsPerBlock * (kGroupsPerBlock * 4 / k.tile_cols + 2) * sizeof(float) : 0;
  by_dtype(k.weight_dtype, [&](auto tag) {
    using W = std::remove_pointer_t<decltype(tag)>;
    const auto stream = static_cast<cudaStream_t>(k.cuda_stream);
    if (vector_aligned(4 * sizeof(W), {k.weight, dout}))
      backward_kernel<W, true><<<grid_of(k), kGroupsPerBlock, shared, stream>>>(k, static_cast<const W*>(dout), dl24, drows);
    else
      backward_kernel<W, false><<<grid_of(k), kGroupsPerBlock, shared, stream>>>(k, static_cast<const W*>(dout), dl24, drows);
  });
  check(cudaGetLastError(), "fused mask backward");
}

}  // namespace patchlm
