#pragma once
// The device layout of a dense tile (docs/format.md "On the GPU"), in one place for the three kernels that read or
// write it — the decode kernel (hybrid_gemm.cu, ldmatrix), the prefill kernel (hybrid_prefill.cu, wgmma descriptors)
// and the unpack (hybrid_unpack.cu, in place and back): the tile in panels of 64 rows × 64 columns (64 rows × 128
// bytes, 8 KiB), the panels of the first 64 rows first, each in column order; inside a panel row r at byte 128·r, its
// 16-byte chunk c (columns 8c .. 8c + 7 of the panel) at chunk position c XOR (r mod 8) — the 128-byte swizzle in
// which TMA writes the tokens too, and in which wgmma reads a K-major operand.
#include "util/host_device.h"

namespace patchlm::kernels {

constexpr int kDensePanelRows = 64;
constexpr int kDensePanelRowBytes = 128;  // 64 bf16: one swizzle atom row
constexpr int kDensePanelBytes = kDensePanelRows * kDensePanelRowBytes;

// Byte offset of the panel of rows [64 · slice, + 64) and columns [64 · panel, + 64) in a tile `width` columns wide.
PATCHLM_HOST_DEVICE_INLINE constexpr int dense_panel_offset(int slice, int panel, int width) {
  return (slice * (width / 64) + panel) * kDensePanelBytes;
}

// Byte offset, inside its panel, of 16-byte chunk `chunk` (0–7) of panel row `row` (0–63).
PATCHLM_HOST_DEVICE_INLINE constexpr int dense_chunk_offset(int row, int chunk) { return row * kDensePanelRowBytes + 16 * (chunk ^ (row % 8)); }

}  // namespace patchlm::kernels

