#pragma once
// The device layout of the stored tiles (docs/format.md "On the GPU"), in one place for the kernels that read it
// (hybrid_gemm.cu, hybrid_prefill.cu) and the one that writes it (hybrid_unpack.cu). Device code only (include from .cu
// files, C++17).
//
// A tile's matrix — a dense tile's weights (tile width · 2 bytes per row), a 2:4 tile's kept values (tile width bytes
// per row: half the columns) — is held in wgmma's swizzled K-major form: panels of 128 bytes per row (64 when a row
// has only 64 bytes), blocks of 64 rows × one panel, the blocks of the first 64 rows first; inside a block row r at
// r · panel bytes, its 16-byte chunk c at c XOR (r mod 8) — or, in 64-byte panels, c XOR ((r mod 8) / 2): wgmma's
// 128- and 64-byte swizzles. A 2:4 tile's metadata follows its values, in the packed order (io/hybrid_layout.h) of
// the 16-row slices, one after another.
#include <cstdint>

namespace patchlm::kernels {

// Bytes per row of a panel of a matrix with `row_bytes` bytes per row.
__host__ __device__ constexpr int panel_bytes(int row_bytes) { return row_bytes < 128 ? row_bytes : 128; }

// Where 16-byte chunk `chunk` of row `row` lies, for a matrix of `row_bytes` bytes per row.
__host__ __device__ constexpr int swizzled_chunk_offset(int row, int chunk, int row_bytes) {
  const int pb = panel_bytes(row_bytes), per_panel = pb / 16, r = row % 64;
  const int block = row / 64 * (row_bytes / pb) + chunk / per_panel;
  const int swizzle = pb == 128 ? r % 8 : (r % 8) / 2;
  return block * 64 * pb + r * pb + 16 * ((chunk % per_panel) ^ swizzle);
}

// Bytes of a 2:4 tile's kept values, where its metadata starts: rows × tile width bytes.
__host__ __device__ constexpr int sparse_values_bytes(int tile_height, int tile_width) { return tile_height * tile_width; }

// ldmatrix.x4 addresses (relative to the matrix) of warp `warp`'s mma.m16n8k16 A fragments, for a matrix of RowBytes
// bytes per row: k16 step `step` is rows 0–7 | 8–15 × columns 0–7 | 8–15 of the step; lane l gives row l mod 8 (+8 for
// lanes 8–15 and 24–31) of the warp's 16 rows and chunk 2·step + l / 16. For a 2:4 tile's values (a k32 step of the
// tile is a k16 step of its kept values) the registers are those of mma.sp.m16n8k32's A operand. The 8 rows of each
// 8×8 matrix fall in 8 different bank groups. lane_base once per thread, then address per (unrolled) step.
template <int RowBytes>
struct FragmentAddress {
  static constexpr int kPanel = panel_bytes(RowBytes), kBlock = 64 * kPanel, kStepsPerPanel = kPanel / 32;
  __device__ __forceinline__ static std::uint32_t lane_base(int warp, int lane) {
    const int row = 16 * (warp % 4) + (lane & 7) + 8 * ((lane >> 3) & 1);
    return static_cast<std::uint32_t>((warp / 4) * (RowBytes / kPanel) * kBlock + row * kPanel);
  }
  __device__ __forceinline__ static std::uint32_t at(std::uint32_t lane_base, int step, int lane) {
    const int swizzle = kPanel == 128 ? (lane & 7) : (lane & 7) >> 1;
    return lane_base + (step / kStepsPerPanel) * kBlock +
           16 * ((2 * (step % kStepsPerPanel) + (lane >> 4)) ^ swizzle);
  }
};

}  // namespace patchlm::kernels
