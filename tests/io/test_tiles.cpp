#include "io/tiles.h"

#include <gtest/gtest.h>

#include <vector>

#include "util/error.h"

namespace patchlm {
namespace {

// keep [rows, cols] from a function of (row, col).
template <typename Fn>
std::vector<std::uint8_t> mask(std::int64_t rows, std::int64_t cols, Fn&& keep) {
  std::vector<std::uint8_t> m(static_cast<std::size_t>(rows * cols));
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) m[r * cols + c] = keep(r, c) ? 1 : 0;
  return m;
}

TEST(Tiles, ClassifiesDenseTwoFourAndOther) {
  const TileShape t{4, 8};
  // Tile columns 0..7: dense; 8..15: 2:4 (positions 1, 2 of every group); 16..23: one group keeps 3.
  auto m = mask(4, 24, [](std::int64_t r, std::int64_t c) {
    if (c < 8) return true;
    if (c < 16) return c % 4 == 1 || c % 4 == 2;
    return !(r == 2 && c == 19) && c % 4 != 3 ? true : (r == 2 && c == 19);
  });
  const auto kinds = classify_tiles(m.data(), 4, 24, t, "w");
  ASSERT_EQ(kinds.size(), 3u);
  EXPECT_EQ(kinds[0], TileKind::dense);
  EXPECT_EQ(kinds[1], TileKind::two_four);
  EXPECT_EQ(kinds[2], TileKind::other);
  EXPECT_DOUBLE_EQ(two_four_tile_share(kinds), 1.0 / 3.0);
}

TEST(Tiles, AFullyPrunedTileIsTwoFourAndGroupsKeepingFewerThanTwoToo) {
  auto m = mask(8, 8, [](std::int64_t r, std::int64_t c) { return r < 4 ? false : c % 4 == 0; });
  const auto kinds = classify_tiles(m.data(), 8, 8, {4, 8}, "w");
  EXPECT_EQ(kinds[0], TileKind::two_four);
  EXPECT_EQ(kinds[1], TileKind::two_four);
}

TEST(Tiles, TilesWhoseWidthIsNoMultipleOfFourAreNeverTwoFour) {
  auto m = mask(2, 6, [](std::int64_t, std::int64_t c) { return c == 0; });
  const auto kinds = classify_tiles(m.data(), 2, 6, {2, 6}, "w");
  EXPECT_EQ(kinds[0], TileKind::other);
}

TEST(Tiles, TileGeometryChecksNameTheLayerAndTheOption) {
  EXPECT_TRUE(tiles_divide(256, 512, {128, 128}));
  EXPECT_FALSE(tiles_divide(576, 576, {128, 128}));
  try {
    check_tiles_divide("model.layers.0.mlp.up_proj", 576, 1536, {128, 128});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.0.mlp.up_proj"), std::string::npos);
  }
  EXPECT_NO_THROW(check_packable_tile({64, 128}, "--tile-size"));
  EXPECT_THROW(check_packable_tile({40, 64}, "--tile-size"), Error);
  EXPECT_THROW(check_packable_tile({64, 32}, "--tile-size"), Error);
  EXPECT_EQ(parse_tile_shape("--tile-size", "64x128"), (TileShape{64, 128}));
  EXPECT_EQ(parse_tile_shape("--tile-size", "64"), (TileShape{64, 64}));
  EXPECT_THROW(parse_tile_shape("--tile-size", "64x"), UsageError);
  EXPECT_THROW(parse_tile_shape("--tile-size", "0x64"), UsageError);
  const TileGrid g{256, 512, {128, 64}};
  EXPECT_EQ(g.tile_count(), 16);
  EXPECT_EQ(g.sparse_tile_bytes() * 16, g.dense_tile_bytes() * 9);
}

}  // namespace
}  // namespace patchlm
