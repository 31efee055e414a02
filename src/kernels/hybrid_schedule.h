#pragma once
// How the hybrid GEMM splits a packed weight over its CTAs (stream-K by bytes): CTA c streams the stored tiles
// [cta_first_tile[c], cta_first_tile[c+1]) — a contiguous run of the tile-CSR order that may span row blocks — so
// every CTA moves about the same number of weight bytes whatever the mix of 2:4 and dense tiles. A row block touched
// by several CTAs is reduced in fp32 through a workspace, which a finish kernel converts to the bf16 output.
// Torch-free, computed once per weight and CTA count.
#include <cstdint>
#include <vector>

#include "io/hybrid_layout.h"

namespace patchlm::hybrid {

struct Schedule {
  int ctas = 0;
  // [2 · tiles]: per stored tile {byte offset / 16, tile column | 2:4 flag << 31} — everything the kernel needs to
  // fetch a tile, in one 8-byte load.
  std::vector<std::uint32_t> tile_desc;
  std::uint32_t offset16(std::int64_t tile) const { return tile_desc[2 * tile]; }
  // [2 · tiles]: the same entries in column order — row block rb's tile of column k at rb · tiles_per_row + k — for
  // the prefill kernel's x-multicast split, whose CTAs walk neighbouring row blocks' tiles column by column together
  // (a row block stores its 2:4 tiles first).
  std::vector<std::uint32_t> tile_desc_by_column;
  std::vector<std::int32_t> cta_first_tile;  // [ctas + 1], non-decreasing, from 0 to tiles
  std::vector<std::int32_t> contributors;    // [row_blocks]: CTAs whose run meets the row block
};

Schedule make_schedule(const PackedHybrid& packed, int ctas);

}  // namespace patchlm::hybrid
