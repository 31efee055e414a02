#include "io/tiles.h"

#include <algorithm>
#include <cstdio>

#include "util/error.h"

namespace patchlm {

std::string TileShape::name() const { return str_cat(rows, "x", cols); }

TileShape parse_tile_shape(const std::string& option, const std::string& value) {
  long long r = 0, c = 0;
  int used = 0;
  const bool square = std::sscanf(value.c_str(), "%lld%n", &r, &used) == 1 && used == static_cast<int>(value.size());
  if (square) c = r;
  const bool pair = !square && std::sscanf(value.c_str(), "%lldx%lld%n", &r, &c, &used) == 2 &&
                    used == static_cast<int>(value.size());
  if (!(square || pair) || r < 1 || c < 1) {
    throw UsageError(str_cat(option, ": ", in_quotes(value), " is not a tile shape like 128x128"));
  }
  return {r, c};
}

bool tiles_divide(std::int64_t rows, std::int64_t cols, const TileShape& tile) {
  return tile.rows > 0 && tile.cols > 0 && rows > 0 && cols > 0 && rows % tile.rows == 0 && cols % tile.cols == 0;
}

void check_tiles_divide(const std::string& layer, std::int64_t rows, std::int64_t cols, const TileShape& tile) {
  if (!tiles_divide(rows, cols, tile)) {
    throw Error(str_cat(layer, ": tile ", tile.name(), " does not divide the weight shape ", rows, "x", cols,
                        " (choose a --tile-size that divides every masked layer)"));
  }
}

void check_packable_tile(const TileShape& tile, const std::string& what) {
  if (tile.rows <= 0 || tile.cols <= 0 || tile.rows % 16 != 0 || tile.cols % 64 != 0)
    throw Error(str_cat(what, ": hybrid tiles must be multiples of 16 rows × 64 columns, got ", tile.name()));
}

TileKind classify_tile(const std::uint8_t* keep, std::int64_t stride, const TileShape& tile) {
  bool all_kept = true, two_four = tile.cols % 4 == 0;  // groups of 4 must not straddle the tile
  for (std::int64_t r = 0; r < tile.rows && (all_kept || two_four); ++r) {
    const std::uint8_t* row = keep + r * stride;
    for (std::int64_t c = 0; c < tile.cols; c += 4) {
      int kept = 0;
      for (std::int64_t i = c; i < std::min(c + 4, tile.cols); ++i) kept += row[i] != 0;
      all_kept = all_kept && kept == std::min<std::int64_t>(4, tile.cols - c);
      two_four = two_four && kept <= 2;
    }
  }
  return all_kept ? TileKind::dense : two_four ? TileKind::two_four : TileKind::other;
}

std::vector<TileKind> classify_tiles(const std::uint8_t* keep, std::int64_t rows, std::int64_t cols,
                                     const TileShape& tile, const std::string& layer) {
  check_tiles_divide(layer, rows, cols, tile);
  std::vector<TileKind> kinds;
  kinds.reserve(static_cast<std::size_t>((rows / tile.rows) * (cols / tile.cols)));
  for (std::int64_t r0 = 0; r0 < rows; r0 += tile.rows)
    for (std::int64_t c0 = 0; c0 < cols; c0 += tile.cols) kinds.push_back(classify_tile(keep + r0 * cols + c0, cols, tile));
  return kinds;
}

double two_four_tile_share(const std::vector<TileKind>& kinds) {
  if (kinds.empty()) return 0;
  std::size_t n = 0;
  for (TileKind k : kinds) n += k == TileKind::two_four;
  return static_cast<double>(n) / static_cast<double>(kinds.size());
}

}  // namespace patchlm
