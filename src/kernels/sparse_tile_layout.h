#pragma once
// The device layout of a 2:4 tile (docs/format.md "On the GPU"), in one place for the three kernels that read or write
// it — the decode kernel (hybrid_gemm.cu, ldmatrix), the prefill kernel (hybrid_prefill.cu, wgmma.sp's A descriptor)
// and the unpack (hybrid_unpack.cu, in place and back). A tile of height × width holds width / 64 *parts*, one per 64
// columns of K, each contiguous (so a part travels on its own, like a dense tile's 64-column panels):
//   its kept values — 32 bf16, i.e. 64 bytes, per row — in wgmma's K-major 64-byte-swizzled form: blocks of 64 rows ×
//   64 bytes, the first 64 rows first; inside a block row r at byte 64 · r, its 16-byte chunk c (kept values
//   8c .. 8c + 7 of the part's row) at chunk position c XOR ((r mod 8) / 2);
//   then its metadata: per 16-row slice, the 32 lanes' words of this part (io/hybrid_layout.h: lane l's word `part` of
//   the packed slice), 128 bytes per slice.
// A k32 step j of the part is a k16 step of its kept values: 32 bytes at 32 · j into every row.
#include "util/host_device.h"

namespace patchlm::kernels {

constexpr int kSparseBlockRows = 64;
constexpr int kSparseRowBytes = 64;  // a part's kept values per row: one 64-byte swizzle atom row
constexpr int kSparseBlockBytes = kSparseBlockRows * kSparseRowBytes;
constexpr int kSparseSliceMetadataBytes = 32 * 4;  // a part's metadata words of one 16-row slice

// Bytes of one 64-column part of a tile `height` rows high, and where part `part` starts.
PATCHLM_HOST_DEVICE_INLINE constexpr int sparse_part_bytes(int height) {
  return height * kSparseRowBytes + height / 16 * kSparseSliceMetadataBytes;
}
PATCHLM_HOST_DEVICE_INLINE constexpr int sparse_part_offset(int part, int height) { return part * sparse_part_bytes(height); }

// Inside a part: where kept-value row `row` starts, and what its chunk positions are XORed with.
PATCHLM_HOST_DEVICE_INLINE constexpr int sparse_row_offset(int row) {
  return row / kSparseBlockRows * kSparseBlockBytes + row % kSparseBlockRows * kSparseRowBytes;
}
PATCHLM_HOST_DEVICE_INLINE constexpr int sparse_row_swizzle(int row) { return row % 8 / 2; }

// Byte offset in the tile of 16-byte chunk `chunk` (kept values 8 · chunk .. + 7) of kept-value row `row`.
PATCHLM_HOST_DEVICE_INLINE constexpr int sparse_value_offset(int row, int chunk, int height) {
  return sparse_part_offset(chunk / 4, height) + sparse_row_offset(row) + 16 * (chunk % 4 ^ sparse_row_swizzle(row));
}

// Byte offset in the tile of part `part`'s metadata words of 16-row slice `slice` (then 4 bytes per lane).
PATCHLM_HOST_DEVICE_INLINE constexpr int sparse_metadata_offset(int part, int slice, int height) {
  return sparse_part_offset(part, height) + height * kSparseRowBytes + slice * kSparseSliceMetadataBytes;
}

}  // namespace patchlm::kernels

