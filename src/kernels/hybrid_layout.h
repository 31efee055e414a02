#pragma once
// The hybrid tile-CSR layout: a pruned weight W [rows = out, cols = in] cut into tiles; every tile is stored either
// 2:4 (kept values + 2-bit indices) or dense, already arranged as the registers of the tensor-core instructions the
// GPU kernel (kernels/hybrid_gemm.cu) issues, so a thread fetches its operands with plain 16-byte loads.
//
// Per row block (tile_rows rows): its 2:4 tiles first, then its dense tiles, each group in ascending tile column;
// `tile_cols` holds the column of every stored tile (the tile-CSR column index), `sparse_tiles` how many of the row
// block's tiles are 2:4. Inside a tile, 16-row slices follow each other; inside a slice (lane = 4·g + t, g = lane/4,
// t = lane%4, rows r = 16·slice + g and r + 8):
//   2:4 tile   — for each 32-column step j: 32 lanes × 16 bytes = the A operand of mma.sp.m16n8k32 (bf16):
//                 {row r, group t}, {row r+8, group t}, {row r, group t+4}, {row r+8, group t+4}, each the two kept
//                 values of that group of 4 (lower index in the low half); then 32 lanes × (tile_cols/64) words of
//                 metadata: word p of lane (g, t) serves step 2p + t/2 (sparsity selector t/2) and holds the 2-bit
//                 indices of rows r (bits 0-15) and r+8 (bits 16-31) for groups 4·(t%2) .. 4·(t%2)+3 of that step.
//   dense tile — for each 16-column step s: 32 lanes × 16 bytes = the A operand of mma.m16n8k16 (bf16):
//                 W[r][2t..], W[r+8][2t..], W[r][2t+8..], W[r+8][2t+8..] relative to the step.
// Bytes: a 2:4 tile is 9/16 of the dense tile, so a layer with share s of 2:4 tiles has (1 − 0.4375·s) of the dense
// bytes. Torch-free; docs/format.md describes the file around it.
#include <cstdint>
#include <string>
#include <vector>

namespace patchlm::hybrid {

// Bumped whenever the byte layout above changes; files record it and readers refuse other versions.
inline constexpr int kLayoutVersion = 1;

struct TileGrid {
  std::int64_t rows = 0, cols = 0;  // the weight [out, in]
  std::int64_t tile_rows = 128, tile_cols = 128;

  std::int64_t row_blocks() const { return rows / tile_rows; }
  std::int64_t tiles_per_row() const { return cols / tile_cols; }
  std::int64_t tile_count() const { return row_blocks() * tiles_per_row(); }
  std::int64_t dense_tile_bytes() const { return tile_rows * tile_cols * 2; }
  std::int64_t sparse_tile_bytes() const { return tile_rows * tile_cols * 9 / 8; }
};

// Error (naming `what`) unless tiles are multiples of 16 rows × 64 columns and divide the weight.
void check_grid(const TileGrid& grid, const std::string& what);

struct PackedHybrid {
  TileGrid grid;
  std::vector<std::int32_t> tile_cols;     // [row_blocks · tiles_per_row], stored order
  std::vector<std::int32_t> sparse_tiles;  // [row_blocks]
  std::vector<std::uint8_t> data;          // all tiles, stored order

  // Byte offset of the i-th stored tile of row block rb.
  std::int64_t tile_offset(std::int64_t rb, std::int64_t i) const;
  std::int64_t expected_bytes() const;
  double sparse_share() const;  // fraction of tiles stored 2:4
};

// `weight`: bf16 bit patterns [rows, cols]; `keep`: 1 = kept. A tile whose every group of 4 keeps at most 2 weights
// is stored 2:4, any other tile dense; pruned weights become zeros either way.
PackedHybrid pack(const std::uint16_t* weight, const std::uint8_t* keep, const TileGrid& grid);

// The dense weight back: bf16 bits, pruned weights +0. Exactly W ⊙ M for what pack() was given.
std::vector<std::uint16_t> unpack(const PackedHybrid& packed);

// Error naming `what` when sizes disagree, a row block's tile columns are not a permutation, a 2:4 count is out of
// range or a metadata nibble is not a valid ascending index pair.
void validate(const PackedHybrid& packed, const std::string& what);

// One group of 4 as stored: positions i0 < i1 and their values; nibble = i0 | i1 << 2.
struct Group24 {
  int i0 = 0, i1 = 1;
  std::uint16_t v0 = 0, v1 = 0;
};
// Kept values of a group keeping at most 2 (a group keeping fewer is completed with zero-valued positions).
Group24 compress_group(const std::uint16_t* w, const std::uint8_t* keep);
bool valid_nibble(unsigned nibble);

}  // namespace patchlm::hybrid
