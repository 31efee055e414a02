#include "kernels/hybrid_unpack.h"

namespace patchlm::kernels {

std::vector<std::int64_t> unpack_table(const hybrid::PackedHybrid& packed) {
  const std::int64_t per_row = packed.grid.tiles_per_row();
  std::vector<std::int64_t> table;
  table.reserve(static_cast<std::size_t>(2 * packed.grid.tile_count()));
  std::int64_t offset = 0;
  for (std::int64_t rb = 0; rb < packed.grid.row_blocks(); ++rb) {
    for (std::int64_t i = 0; i < per_row; ++i) {
      const bool sparse = i < packed.sparse_tiles[static_cast<std::size_t>(rb)];
      const std::int64_t column = packed.columns[static_cast<std::size_t>(rb * per_row + i)];
      table.push_back(offset);
      table.push_back(rb << 32 | column << 1 | (sparse ? 1 : 0));
      offset += sparse ? packed.grid.sparse_tile_bytes() : packed.grid.dense_tile_bytes();
    }
  }
  return table;
}

}  // namespace patchlm::kernels
