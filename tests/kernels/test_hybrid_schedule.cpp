// The stream-K split of a packed weight over the hybrid GEMM's CTAs (torch-free: no GPU needed).
#include "kernels/hybrid_schedule.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "kernels/hybrid_fixtures.h"
#include "util/error.h"

namespace patchlm {
namespace {

using hybrid::PackedHybrid;
using testing::random_hybrid;

TEST(HybridSchedule, EveryTileOnceBalancedByBytesWithConsistentContributors) {
  auto c = random_hybrid(1024, 2048, 128, 128, 0.5, 13);
  PackedHybrid p = hybrid::pack(c.weight.data(), c.keep.data(), c.grid);
  for (int ctas : {1, 7, 132, 200}) {
    hybrid::Schedule s = hybrid::make_schedule(p, ctas);
    ASSERT_EQ(s.cta_first_tile.size(), static_cast<std::size_t>(ctas + 1));
    EXPECT_EQ(s.cta_first_tile.front(), 0);
    EXPECT_EQ(s.cta_first_tile.back(), c.grid.tile_count());
    EXPECT_TRUE(std::is_sorted(s.cta_first_tile.begin(), s.cta_first_tile.end()));
    const std::int64_t per_row = c.grid.tiles_per_row();
    std::int64_t biggest = 0;
    std::vector<int> seen(static_cast<std::size_t>(c.grid.row_blocks()), 0);
    for (int k = 0; k < ctas; ++k) {
      std::int64_t a = s.cta_first_tile[k], b = s.cta_first_tile[k + 1];
      std::int64_t begin = a < c.grid.tile_count() ? std::int64_t{s.offset16(a)} * 16 : 0;
      std::int64_t end = b < c.grid.tile_count() ? std::int64_t{s.offset16(b)} * 16
                                                 : static_cast<std::int64_t>(p.data.size());
      if (a < b) biggest = std::max(biggest, end - begin);
      std::set<std::int64_t> rbs;
      for (std::int64_t i = a; i < b; ++i) rbs.insert(i / per_row);
      for (std::int64_t rb : rbs) ++seen[rb];
    }
    for (std::int64_t rb = 0; rb < c.grid.row_blocks(); ++rb) EXPECT_EQ(seen[rb], s.contributors[rb]);
    EXPECT_LE(biggest, static_cast<std::int64_t>(p.data.size()) / ctas + c.grid.dense_tile_bytes()) << ctas;
    for (std::int64_t i = 0; i < c.grid.tile_count(); ++i) {
      std::int64_t rb = i / per_row, k = i % per_row;
      EXPECT_EQ(std::int64_t{s.offset16(i)} * 16, p.tile_offset(rb, k));
      EXPECT_EQ(s.tile_desc[2 * i + 1], static_cast<std::uint32_t>(p.columns[i]) |
                                            (k < p.sparse_tiles[rb] ? 1u << 31 : 0u));
    }
  }
  EXPECT_THROW(hybrid::make_schedule(p, 0), Error);
}

// The column-order table (the x-multicast split's) holds each stored tile's entry at its row block and column: every
// column of every row block once, with the stored entry of the tile that has that column.
TEST(HybridSchedule, ColumnOrderTableHoldsEveryTileAtItsColumn) {
  auto c = random_hybrid(512, 2048, 128, 128, 0.5, 17);
  PackedHybrid p = hybrid::pack(c.weight.data(), c.keep.data(), c.grid);
  const hybrid::Schedule s = hybrid::make_schedule(p, 4);
  const std::int64_t per_row = c.grid.tiles_per_row();
  ASSERT_EQ(s.tile_desc_by_column.size(), s.tile_desc.size());
  bool reordered = false;  // the fixture stores some row block's 2:4 tiles ahead of a dense one of a lower column
  for (std::int64_t rb = 0; rb < c.grid.row_blocks(); ++rb)
    for (std::int64_t k = 0; k < per_row; ++k) {
      const std::uint32_t where = s.tile_desc_by_column[2 * (rb * per_row + k) + 1];
      EXPECT_EQ(where & 0x7FFFFFFFu, static_cast<std::uint32_t>(k)) << "row block " << rb;
      const std::int64_t stored = rb * per_row +
          (std::find(p.columns.begin() + rb * per_row, p.columns.begin() + (rb + 1) * per_row, k) - (p.columns.begin() + rb * per_row));
      ASSERT_LT(stored, (rb + 1) * per_row) << "column " << k << " of row block " << rb << " is not stored";
      EXPECT_EQ(s.tile_desc_by_column[2 * (rb * per_row + k)], s.tile_desc[2 * stored]);
      EXPECT_EQ(where, s.tile_desc[2 * stored + 1]);
      reordered = reordered || stored != rb * per_row + k;
    }
  EXPECT_TRUE(reordered) << "the fixture must store tiles out of column order";
}

}  // namespace
}  // namespace patchlm
