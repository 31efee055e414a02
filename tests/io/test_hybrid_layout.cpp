#include "io/hybrid_layout.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "kernels/hybrid_fixtures.h"
#include "util/error.h"

namespace patchlm {
namespace {

using hybrid::PackedHybrid;
using testing::random_hybrid;

TEST(HybridLayout, EveryGroupWithAtMostTwoKeptCompressesToAValidAscendingPair) {
  const std::uint16_t w[4] = {0x3F80, 0xBF80, 0x4000, 0x8000};  // 1, -1, 2, -0
  for (int bits = 0; bits < 16; ++bits) {
    std::uint8_t keep[4] = {std::uint8_t(bits & 1), std::uint8_t(bits >> 1 & 1), std::uint8_t(bits >> 2 & 1),
                            std::uint8_t(bits >> 3 & 1)};
    if (keep[0] + keep[1] + keep[2] + keep[3] > 2) continue;
    hybrid::Group24 g = hybrid::compress_group(w, keep);
    ASSERT_TRUE(hybrid::valid_nibble(static_cast<unsigned>(g.i0 | g.i1 << 2))) << bits;
    // Decoding the pair gives back exactly the kept weights and zeros elsewhere.
    std::uint16_t back[4] = {0, 0, 0, 0};
    back[g.i0] = g.v0;
    back[g.i1] = g.v1;
    for (int i = 0; i < 4; ++i) EXPECT_EQ(back[i], keep[i] ? w[i] : 0) << "pattern " << bits << " position " << i;
  }
  // The four codes the hardware rejects are exactly the non-ascending pairs.
  for (unsigned n : {0x0u, 0x5u, 0xAu, 0xFu}) EXPECT_FALSE(hybrid::valid_nibble(n));
}

TEST(HybridLayout, AllSixPatternsAndDegenerateGroupsRoundTripExactly) {
  for (int pattern = 0; pattern < 6; ++pattern) {
    auto c = random_hybrid(64, 128, 64, 64, 1.0, 10 + pattern);
    for (std::size_t i = 0; i < c.keep.size(); i += 4) pattern_fill(pattern, &c.keep[i]);
    PackedHybrid p = hybrid::pack(c.weight.data(), c.keep.data(), c.grid);
    EXPECT_EQ(p.two_four_tile_share(), 1.0);
    EXPECT_EQ(hybrid::unpack(p), testing::masked(c)) << "pattern " << pattern;
  }
  auto c = random_hybrid(128, 256, 64, 128, 0.5, 3, /*degenerate=*/0.3);
  PackedHybrid p = hybrid::pack(c.weight.data(), c.keep.data(), c.grid);
  EXPECT_EQ(hybrid::unpack(p), testing::masked(c));
}

TEST(HybridLayout, RandomHybridRoundTripsForEveryTileShape) {
  const std::int64_t shapes[][2] = {{16, 64}, {64, 64}, {64, 128}, {128, 128}, {128, 256}};
  int seed = 100;
  for (const auto& s : shapes)
    for (double share : {0.0, 0.3, 0.7, 1.0}) {
      auto c = random_hybrid(256, 512, s[0], s[1], share, ++seed, 0.05);
      PackedHybrid p = hybrid::pack(c.weight.data(), c.keep.data(), c.grid);
      EXPECT_EQ(hybrid::unpack(p), testing::masked(c)) << s[0] << "x" << s[1] << " share " << share;
    }
}

TEST(HybridLayout, TwoFourTilesComeFirstThenDenseTilesInColumnOrder) {
  auto c = random_hybrid(256, 1024, 128, 128, 0.5, 7);
  PackedHybrid p = hybrid::pack(c.weight.data(), c.keep.data(), c.grid);
  const std::int64_t per_row = c.grid.tiles_per_row();
  for (std::int64_t rb = 0; rb < c.grid.row_blocks(); ++rb) {
    std::vector<std::int32_t> sparse, dense;
    for (std::int64_t tc = 0; tc < per_row; ++tc) (c.tile_sparse[rb * per_row + tc] ? sparse : dense).push_back(tc);
    std::vector<std::int32_t> want = sparse;
    want.insert(want.end(), dense.begin(), dense.end());
    std::vector<std::int32_t> got(p.columns.begin() + rb * per_row, p.columns.begin() + (rb + 1) * per_row);
    EXPECT_EQ(got, want) << "row block " << rb;
    EXPECT_EQ(p.sparse_tiles[rb], static_cast<std::int32_t>(sparse.size()));
  }
}

TEST(HybridLayout, BytesAreOneMinus0p4375TimesTheTwoFourShareOfDense) {
  auto c = random_hybrid(512, 1024, 128, 128, 0.6, 9);
  PackedHybrid p = hybrid::pack(c.weight.data(), c.keep.data(), c.grid);
  double dense_bytes = 2.0 * 512 * 1024;
  EXPECT_DOUBLE_EQ(static_cast<double>(p.data.size()) / dense_bytes, 1.0 - 0.4375 * p.two_four_tile_share());
  // A group keeping 3 makes its tile dense.
  auto d = random_hybrid(128, 128, 128, 128, 1.0, 11);
  d.keep[4 * 17] = d.keep[4 * 17 + 1] = d.keep[4 * 17 + 2] = 1;
  EXPECT_EQ(hybrid::pack(d.weight.data(), d.keep.data(), d.grid).two_four_tile_share(), 0.0);
}

TEST(HybridLayout, CorruptionIsReportedNotDecoded) {
  auto c = random_hybrid(128, 256, 64, 64, 0.5, 12);
  PackedHybrid good = hybrid::pack(c.weight.data(), c.keep.data(), c.grid);
  ASSERT_GT(good.sparse_tiles[0], 0);

  PackedHybrid bad_meta = good;  // metadata of the first slice of the first (2:4) tile: 0 = index pair (0, 0)
  std::fill_n(bad_meta.data.begin() + 16 * 64, 4, std::uint8_t{0});
  EXPECT_THROW(hybrid::validate(bad_meta, "t"), Error);
  PackedHybrid repeated = good;
  repeated.columns[1] = repeated.columns[0];
  EXPECT_THROW(hybrid::validate(repeated, "t"), Error);
  PackedHybrid truncated = good;
  truncated.data.pop_back();
  EXPECT_THROW(hybrid::unpack(truncated), Error);
  PackedHybrid count = good;
  count.sparse_tiles[0] = 99;
  EXPECT_THROW(hybrid::validate(count, "t"), Error);
  EXPECT_THROW(hybrid::pack(c.weight.data(), c.keep.data(), TileGrid{128, 256, {48, 64}}), Error);
  EXPECT_THROW(hybrid::pack(c.weight.data(), c.keep.data(), TileGrid{128, 200, {64, 64}}), Error);
}

}  // namespace
}  // namespace patchlm
