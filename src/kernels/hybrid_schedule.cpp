#include "kernels/hybrid_schedule.h"

#include <algorithm>

#include "util/error.h"

namespace patchlm::hybrid {

Schedule make_schedule(const PackedHybrid& packed, int ctas) {
  if (ctas <= 0) throw Error(str_cat("hybrid schedule: CTA count must be positive, got ", ctas));
  const TileGrid& grid = packed.grid;
  const std::int64_t tiles = grid.tile_count(), per_row = grid.tiles_per_row();
  if (packed.data.size() / 16 > UINT32_MAX)
    throw Error("hybrid schedule: a packed weight over 64 GiB does not fit 32-bit tile offsets");

  Schedule s;
  s.ctas = ctas;
  std::vector<std::int64_t> start(static_cast<std::size_t>(tiles + 1), 0);
  for (std::int64_t i = 0; i < tiles; ++i) {
    std::int64_t rb = i / per_row, k = i % per_row;
    start[i + 1] = start[i] + (k < packed.sparse_tiles[rb] ? grid.sparse_tile_bytes() : grid.dense_tile_bytes());
    s.tile_desc.push_back(static_cast<std::uint32_t>(start[i] / 16));
    s.tile_desc.push_back(static_cast<std::uint32_t>(packed.columns[i]) |
                          (k < packed.sparse_tiles[rb] ? 1u << 31 : 0u));
  }
  s.tile_desc_by_column.assign(s.tile_desc.size(), 0);
  for (std::int64_t i = 0; i < tiles; ++i) {
    const std::int64_t at = (i / per_row * per_row + packed.columns[i]) * 2;
    s.tile_desc_by_column[at] = s.tile_desc[2 * i];
    s.tile_desc_by_column[at + 1] = s.tile_desc[2 * i + 1];
  }
  // CTA c begins at the first tile that starts at or after c/ctas of the bytes.
  const std::int64_t total = start[tiles];
  for (int c = 0; c <= ctas; ++c) {
    std::int64_t target = total * c / ctas;
    auto at = std::lower_bound(start.begin(), start.end() - 1, target);
    s.cta_first_tile.push_back(c == ctas ? static_cast<std::int32_t>(tiles)
                                         : static_cast<std::int32_t>(at - start.begin()));
  }
  s.contributors.assign(static_cast<std::size_t>(grid.row_blocks()), 0);
  for (int c = 0; c < ctas; ++c) {
    std::int64_t first = s.cta_first_tile[c], last = s.cta_first_tile[c + 1];
    if (first == last) continue;
    for (std::int64_t rb = first / per_row; rb <= (last - 1) / per_row; ++rb) ++s.contributors[rb];
  }
  return s;
}

}  // namespace patchlm::hybrid
