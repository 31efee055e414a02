#pragma once
// The hybrid layout unpacked on the GPU: W ⊙ M back as a dense bf16 [rows, cols] — the device twin of
// io/hybrid_layout's unpack(), one CTA per stored tile, each 16-row slice decoded into shared memory and written out
// in coalesced 16-byte rows. hybrid_linear runs it past the decode kernel's crossover (many tokens: prefill, large
// batches), where the GEMM is compute bound and cuBLAS on the unpacked weight beats the decode kernel's 64-token
// chunks: one layer's dense weight exists at a time, for that call only. The same decoding, written back per tile in
// the device layout, rewrites every tile once at upload. No CUDA types here (C++17: hybrid_unpack.cu
// includes it).
#include <cstdint>
#include <string>

namespace patchlm::kernels {

struct HybridUnpackPlan {
  const std::uint8_t* data = nullptr;            // packed tiles (device)
  const std::uint32_t* tile_desc = nullptr;      // [2 · tile_count] (device): kernels/hybrid_schedule.h's tile_desc
  std::int64_t tile_count = 0, rows = 0, cols = 0;
  int tile_height = 128, tile_width = 128;  // multiples of 16 and 64, width ≤ 256
  bool device_layout = false;  // the tiles are in the device layout (hybrid_to_device_layout), not as packed
};

// Writes the dense weight to `out` (bf16 [rows, cols], 16-byte aligned) on `stream` (a cudaStream_t). Returns an
// empty string or the CUDA error.
std::string hybrid_unpack(const HybridUnpackPlan& plan, void* out, void* stream);

// Rewrites every tile of the packed data in place (`data`: plan.data, writable) into the device layout
// (docs/format.md "On the GPU"; kernels/dense_tile_layout.h and sparse_tile_layout.h): a dense tile in blocks of 64
// rows × 64 columns — 64 rows × 128 bytes, the blocks of the first 64 rows first — with each row's 16-byte chunk c at
// position c XOR (row mod 8); a 2:4 tile's kept values in blocks of 64 rows × `width` bytes swizzled alike (128- or
// 64-byte swizzle), its metadata words after them. That is what wgmma reads through a descriptor from 1024-byte-aligned
// shared memory after a plain bulk copy, and what ldmatrix reads without bank conflicts. Sizes and offsets stay as
// packed. Tiles of a multiple of 64 rows and 64 or 128 columns (the shapes the decode and prefill kernels take:
// hybrid_linear rewrites exactly those). Returns an empty string, why not, or the CUDA error.
std::string hybrid_to_device_layout(const HybridUnpackPlan& plan, std::uint8_t* data, void* stream);

}  // namespace patchlm::kernels
