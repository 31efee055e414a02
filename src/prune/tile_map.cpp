#include "prune/tile_map.h"

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

void check_tiles_divide(const std::string& layer, std::int64_t rows, std::int64_t cols, const TileShape& tile) {
  if (rows % tile.rows != 0 || cols % tile.cols != 0) {
    throw Error(str_cat(layer, ": tile ", tile.name(), " does not divide the weight shape ", rows, "x", cols,
                        " (choose a --tile-size that divides every masked layer)"));
  }
}

at::Tensor dense_tiles(const at::Tensor& keep, const TileShape& t) {
  const std::int64_t R = keep.size(0) / t.rows, C = keep.size(1) / t.cols;
  return keep.reshape({R, t.rows, C, t.cols}).all(3).all(1);
}

at::Tensor expand_tiles(const at::Tensor& tiles, const TileShape& t) {
  const std::int64_t R = tiles.size(0), C = tiles.size(1);
  return tiles.reshape({R, 1, C, 1}).expand({R, t.rows, C, t.cols}).reshape({R * t.rows, C * t.cols});
}

at::Tensor keep_tensor(const LayerMask& m) {
  return at::from_blob(const_cast<std::uint8_t*>(m.keep.data()), {m.rows, m.cols}, at::kByte).to(at::kBool);
}

LayerMask layer_mask(const at::Tensor& keep) {
  at::Tensor k = keep.to(at::kCPU).to(at::kByte).contiguous();
  const std::uint8_t* p = k.data_ptr<std::uint8_t>();
  return {k.size(0), k.size(1), std::vector<std::uint8_t>(p, p + k.numel())};
}

}  // namespace patchlm
