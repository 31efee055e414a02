// CUDA kernel of hybrid_unpack.h. It reads the register-ordered layout of io/hybrid_layout.h (the header comment
// there is the specification; hybrid_layout.cpp's for_each_dense_slot / for_each_sparse_slot are the same walk on
// the host, which the tests compare against bit for bit) and the device layout of kernels/dense_tile_layout.h and
// sparse_tile_layout.h, and rewrites the first into the second.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernels/dense_tile_layout.h"
#include "kernels/hybrid_unpack.h"
#include "kernels/sparse_tile_layout.h"
#include "kernels/tile_desc.h"

namespace patchlm::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxWidth = 256;  // a 16-row slice must fit the shared buffer
constexpr int kPad = 8;  // halves of padding per shared row: rows stay 16-byte aligned, banks spread
constexpr int kSharedBytes = 48 * 1024;  // per CTA, without opting in

// Chunk k of a pass over `slices` 16-row slices of a dense tile into smem[16·slices][width + kPad]: slice k / (2·width),
// then (step s, lane) — 16 bytes holding registers q = 0..3 (two halves each) of rows g + 8·(q & 1), columns
// 16·s + 2·t + 8·(q >> 1).
__device__ void dense_chunk(const std::uint8_t* in, int width, int k, std::uint16_t* smem) {
  const int per_slice = 2 * width, slice = k / per_slice, c = k % per_slice;
  const uint4 v = reinterpret_cast<const uint4*>(in + slice * 32 * width)[c];
  const int s = c / 32, lane = c % 32, g = lane / 4, t = lane % 4;
  const std::uint32_t regs[4] = {v.x, v.y, v.z, v.w};
  std::uint16_t* rows = smem + 16 * slice * (width + kPad);
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    const int row = g + 8 * (q & 1), col = 16 * s + 2 * t + 8 * (q >> 1);
    *reinterpret_cast<std::uint32_t*>(rows + row * (width + kPad) + col) = regs[q];
  }
}

// The packed order of a 2:4 slice (io/hybrid_layout.h): lane (g, t)'s 32-bit word q of 32-column step j — word
// 4 · (32 · j + lane) + q of the slice — holds the kept pair of group t + 4·(q >> 1) of the step in row g + 8·(q & 1) of
// the slice: which row of the slice, which group of the row.
__device__ __forceinline__ int packed_sparse_row(int lane, int q) { return lane / 4 + 8 * (q & 1); }
__device__ __forceinline__ int packed_sparse_group(int j, int lane, int q) { return 8 * j + lane % 4 + 4 * (q >> 1); }

// The 16 bytes lane `lane` of slice `slice` holds for 32-column step j as packed — read as packed, or gathered from the
// device layout (kept values 4 bytes per group).
__device__ uint4 sparse_lane_values(const std::uint8_t* tile, int height, int width, int slice, int j, int lane,
                                    bool device_layout) {
  if (!device_layout) return reinterpret_cast<const uint4*>(tile + slice * 18 * width)[j * 32 + lane];
  std::uint32_t regs[4];
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    const int row = 16 * slice + packed_sparse_row(lane, q), group = packed_sparse_group(j, lane, q);
    regs[q] = *reinterpret_cast<const std::uint32_t*>(tile + sparse_value_offset(row, group / 4, height) + 4 * (group % 4));
  }
  return make_uint4(regs[0], regs[1], regs[2], regs[3]);
}

// Where metadata word `word` (of width / 64 per lane) of lane `lane` of slice `slice` of a 2:4 tile lies: after the
// slice's values as packed (lane by lane), with its part's words in the device layout (word = part).
__device__ int sparse_metadata_word_offset(int height, int width, int slice, int lane, int word, bool device_layout) {
  if (device_layout) return sparse_metadata_offset(word, slice, height) + 4 * lane;
  return slice * 18 * width + 16 * width + 4 * (lane * (width / 64) + word);
}

// Chunk k of a pass over 2:4 slices from slice `first` on: slice first + k / width, then (32-column step j, lane) —
// groups (row g + 8·(q & 1), group t + 4·(q >> 1)) as (v0, v1); their nibbles sit in the slice's metadata words.
__device__ void sparse_chunk(const std::uint8_t* tile, int height, int width, int first, int k, bool device_layout,
                             std::uint16_t* smem) {
  const int slice = k / width, c = k % width;
  const int j = c / 32, lane = c % 32, g = lane / 4, t = lane % 4;
  const uint4 v = sparse_lane_values(tile, height, width, first + slice, j, lane, device_layout);
  const std::uint32_t regs[4] = {v.x, v.y, v.z, v.w};
  // Lane (g, t)'s groups t and t + 4 have their nibbles in word j / 2 of lanes 4g + 2·(j % 2) + 0 and + 1.
  std::uint32_t words[2];
#pragma unroll
  for (int h = 0; h < 2; ++h)
    words[h] = *reinterpret_cast<const std::uint32_t*>(
        tile + sparse_metadata_word_offset(height, width, first + slice, 4 * g + 2 * (j % 2) + h, j / 2, device_layout));
  std::uint16_t* rows = smem + 16 * slice * (width + kPad);
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    const int row = g + 8 * (q & 1), group = t + 4 * (q >> 1);
    const unsigned nibble = (words[group / 4] >> (4 * (group % 4) + 16 * (q & 1))) & 0xF;
    // The two kept values at positions nibble & 3 and nibble >> 2 of the group, zeros elsewhere (shifts, not an
    // indexed local array, which would live in local memory).
    const std::uint64_t group_bits = static_cast<std::uint64_t>(regs[q] & 0xFFFF) << (16 * (nibble & 3)) |
                                     static_cast<std::uint64_t>(regs[q] >> 16) << (16 * (nibble >> 2));
    uint2 pair;
    pair.x = static_cast<std::uint32_t>(group_bits);
    pair.y = static_cast<std::uint32_t>(group_bits >> 32);
    *reinterpret_cast<uint2*>(rows + row * (width + kPad) + 32 * j + 4 * group) = pair;
  }
}

// Where 16-byte chunk `chunk` of row `row` of a dense tile `width` columns wide lies in the device layout.
__device__ __forceinline__ int swizzled_chunk_offset(int row, int chunk, int width) {
  return dense_panel_offset(row / kDensePanelRows, chunk / 8, width) + dense_chunk_offset(row % kDensePanelRows, chunk % 8);
}

// A dense tile in the device layout straight to the matrix, 16 bytes at a time.
__device__ void copy_swizzled_tile(const std::uint8_t* in, int height, int width, std::uint16_t* out, std::int64_t cols) {
  const int chunks_per_row = width / 8;
  for (int k = threadIdx.x; k < height * chunks_per_row; k += kThreads) {
    const int row = k / chunks_per_row, chunk = k % chunks_per_row;
    *reinterpret_cast<uint4*>(out + row * cols + 8 * chunk) =
        *reinterpret_cast<const uint4*>(in + swizzled_chunk_offset(row, chunk, width));
  }
}

// A 2:4 tile rewritten in place from the packed order into the device layout: all its bytes into shared memory, then
// each group's kept pair to its row of its part's kept values (swizzled), each metadata word to its part.
__device__ void rewrite_sparse_tile(std::uint8_t* tile, int height, int width, std::uint32_t* smem) {
  const int words = height * width * 9 / 32;
  for (int k = threadIdx.x; k < words; k += kThreads) smem[k] = reinterpret_cast<const std::uint32_t*>(tile)[k];
  __syncthreads();
  const int words_per_slice = 18 * width / 4, pairs_per_slice = 16 * width / 4;
  for (int k = threadIdx.x; k < height / 16 * pairs_per_slice; k += kThreads) {
    const int slice = k / pairs_per_slice, w = k % pairs_per_slice;  // w: packed word (j · 32 + lane) · 4 + q
    const int q = w % 4, lane = (w / 4) % 32, j = w / 128;
    const int row = 16 * slice + packed_sparse_row(lane, q), group = packed_sparse_group(j, lane, q);
    *reinterpret_cast<std::uint32_t*>(tile + sparse_value_offset(row, group / 4, height) + 4 * (group % 4)) =
        smem[slice * words_per_slice + w];
  }
  const int meta_words_per_slice = width / 2, words_per_lane = width / 64;
  for (int k = threadIdx.x; k < height / 16 * meta_words_per_slice; k += kThreads) {
    const int slice = k / meta_words_per_slice, w = k % meta_words_per_slice;
    *reinterpret_cast<std::uint32_t*>(tile + sparse_metadata_word_offset(height, width, slice, w / words_per_lane,
                                                                         w % words_per_lane, true)) =
        smem[slice * words_per_slice + pairs_per_slice + w];
  }
}

// One CTA per stored tile. Into the matrix `out`: a dense tile in the device layout straight, any other in passes of as
// many 16-row slices as the shared buffer holds, decoded into shared memory, then written out row by row in 16-byte
// chunks. With `in_place` (`out` is the packed data, one pass per tile): the tile rewritten into the device layout.
__global__ void __launch_bounds__(kThreads)
    unpack_kernel(HybridUnpackPlan p, std::uint16_t* out, int slices_per_pass, bool in_place) {
  extern __shared__ __align__(16) std::uint16_t smem[];
  // Tiles are stored row block by row block: the row block is the index over the tiles per row.
  const auto [offset, column, sparse] = tile_ref(p.tile_desc, blockIdx.x);
  const std::int64_t r0 = blockIdx.x / (p.cols / p.tile_width) * p.tile_height,
                     c0 = static_cast<std::int64_t>(column) * p.tile_width;
  const int width = p.tile_width, height = p.tile_height, stride = width + kPad, slices = height / 16;
  const std::uint8_t* tile = p.data + offset;
  if (in_place && sparse)
    return rewrite_sparse_tile(reinterpret_cast<std::uint8_t*>(out) + offset, height, width,
                               reinterpret_cast<std::uint32_t*>(smem));
  if (!sparse && p.device_layout && !in_place)
    return copy_swizzled_tile(tile, height, width, out + r0 * p.cols + c0, p.cols);
  for (int first = 0; first < slices; first += slices_per_pass) {
    const int n = min(slices_per_pass, slices - first);
    if (sparse) {
      for (int k = threadIdx.x; k < n * width; k += kThreads)
        sparse_chunk(tile, height, width, first, k, p.device_layout, smem);
    } else {
      for (int k = threadIdx.x; k < n * 2 * width; k += kThreads) dense_chunk(tile + first * 32 * width, width, k, smem);
    }
    __syncthreads();
    const int chunks_per_row = width / 8;
    for (int k = threadIdx.x; k < 16 * n * chunks_per_row; k += kThreads) {
      const int row = k / chunks_per_row, chunk = k % chunks_per_row;
      const uint4 v = *reinterpret_cast<const uint4*>(smem + row * stride + 8 * chunk);
      if (in_place)  // out is the packed data; every row of the tile was read in this one pass
        *reinterpret_cast<uint4*>(reinterpret_cast<std::uint8_t*>(out) + offset +
                                  swizzled_chunk_offset(16 * first + row, chunk, width)) = v;
      else
        *reinterpret_cast<uint4*>(out + (r0 + 16 * first + row) * p.cols + c0 + 8 * chunk) = v;
    }
    __syncthreads();
  }
}

std::string launch_unpack(const HybridUnpackPlan& p, void* out, bool in_place, void* stream) {
  if (p.tile_width % 64 != 0 || p.tile_width > kMaxWidth || p.tile_height % 16 != 0)
    return "hybrid unpack: tiles must be a multiple of 16 rows and of 64 columns, at most 256 wide";
  if (reinterpret_cast<std::uintptr_t>(out) % 16 != 0 || reinterpret_cast<std::uintptr_t>(p.data) % 16 != 0)
    return "hybrid unpack: the packed data and the output must be 16-byte aligned";
  if (p.tile_count == 0) return {};
  const int slice_bytes = 16 * (p.tile_width + kPad) * 2;
  const int slices_per_pass = std::min(p.tile_height / 16, kSharedBytes / slice_bytes);
  if (in_place && slices_per_pass * 16 < p.tile_height) return "hybrid unpack: a tile to rewrite must fit one pass";
  unpack_kernel<<<static_cast<unsigned>(p.tile_count), kThreads, slices_per_pass * slice_bytes,
                  static_cast<cudaStream_t>(stream)>>>(p, static_cast<std::uint16_t*>(out), slices_per_pass, in_place);
  const cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? std::string() : std::string("hybrid unpack: ") + cudaGetErrorString(e);
}

}  // namespace

std::string hybrid_unpack(const HybridUnpackPlan& p, void* out, void* stream) {
  return launch_unpack(p, out, false, stream);
}

std::string hybrid_to_device_layout(const HybridUnpackPlan& p, std::uint8_t* data, void* stream) {
  if (p.tile_height % 64 != 0 || (p.tile_width != 64 && p.tile_width != 128))
    return "hybrid device layout: takes tiles of a multiple of 64 rows, 64 or 128 columns wide";
  if (p.device_layout) return "hybrid device layout: the tiles are already in it";
  HybridUnpackPlan q = p;
  q.data = data;
  return launch_unpack(q, data, true, stream);
}

}  // namespace patchlm::kernels
