#pragma once
// The hybrid tile-CSR layout: a pruned weight W [rows = out, cols = in] cut into tiles; every tile is stored either
// 2:4 (kept values + 2-bit indices) or dense, already arranged as the registers of the tensor-core instructions the
// GPU kernel (kernels/hybrid_gemm.cu) issues, so a thread fetches its operands with plain 16-byte loads.
//
// Per row block (tile.rows rows): its 2:4 tiles first, then its dense tiles, each group in ascending tile column;
// `columns` holds the column of every stored tile (the tile-CSR column index), `sparse_tiles` how many of the row
// block's tiles are 2:4. Inside a tile, 16-row slices follow each other; inside a slice (lane = 4·g + t, g = lane/4,
// t = lane%4, rows r = 16·slice + g and r + 8):
//   2:4 tile   — for each 32-column step j: 32 lanes × 16 bytes = the A operand of mma.sp.m16n8k32 (bf16):
//                 {row r, group t}, {row r+8, group t}, {row r, group t+4}, {row r+8, group t+4}, each the two kept
//                 values of that group of 4 (lower index in the low half); then 32 lanes × (tile.cols/64) words of
//                 metadata: word p of lane (g, t) serves step 2p + t/2 (sparsity selector t/2) and holds the 2-bit
//                 indices of rows r (bits 0-15) and r+8 (bits 16-31) for groups 4·(t%2) .. 4·(t%2)+3 of that step.
//   dense tile — for each 16-column step s: 32 lanes × 16 bytes = the A operand of mma.m16n8k16 (bf16):
//                 W[r][2t..], W[r+8][2t..], W[r][2t+8..], W[r+8][2t+8..] relative to the step.
// Bytes: a 2:4 tile is 9/16 of the dense tile, so a layer with share s of 2:4 tiles has (1 − 0.4375·s) of the dense
// bytes. Which tiles are 2:4 is io/tiles' classify_tile. Torch-free; docs/format.md describes the file around it.
#include <cstdint>
#include <string>
#include <vector>

#include "io/tiles.h"

namespace patchlm::hybrid {

// Bumped whenever the byte layout above changes; files record it and readers refuse other versions.
inline constexpr int kLayoutVersion = 1;

struct PackedHybrid {
  TileGrid grid;
  std::vector<std::int32_t> columns;       // [row_blocks · tiles_per_row]: tile column of each stored tile
  std::vector<std::int32_t> sparse_tiles;  // [row_blocks]
  std::vector<std::uint8_t> data;          // all tiles, stored order

  // Byte offset of the i-th stored tile of row block rb.
  std::int64_t tile_offset(std::int64_t rb, std::int64_t i) const;
  std::int64_t expected_bytes() const;
  double two_four_tile_share() const;  // fraction of tiles stored 2:4
};

// `weight`: bf16 bit patterns [rows, cols]; `keep`: 1 = kept. A TileKind::two_four tile is stored 2:4, any other tile
// dense; pruned weights become zeros either way. Error unless the tile is packable and divides the weight.
PackedHybrid pack(const std::uint16_t* weight, const std::uint8_t* keep, const TileGrid& grid);

// Weights with the same columns and tile stacked along the rows ([Σ rows, cols]): their row blocks one after another,
// as if packed together (the engine fuses q/k/v and gate/up this way). Error naming `what` when they do not match.
PackedHybrid concat_rows(const std::vector<const PackedHybrid*>& parts, const std::string& what);

// The dense weight back: bf16 bits, pruned weights +0. Exactly W ⊙ M for what pack() was given.
std::vector<std::uint16_t> unpack(const PackedHybrid& packed);

// Error naming `what` when the tile is not packable or does not divide the weight, sizes disagree, a row block's tile columns are not a permutation, a 2:4 count is out of
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
