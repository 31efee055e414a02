#pragma once
// Tile geometry shared by pruning, mask learning and export: a weight [out, in] is cut into tr × tc tiles
// (default 128 × 128), which must divide both dimensions. A tile is "dense" when it keeps every weight; the
// others are 2:4 tiles in PATCH's hybrid layout.
#include <cstdint>
#include <string>

#include <ATen/ATen.h>

#include "io/mask_file.h"

namespace patchlm {

struct TileShape {
  std::int64_t rows = 128, cols = 128;
  std::string name() const;
};

// "128x128" or "128" (square). UsageError naming `option` and the value otherwise.
TileShape parse_tile_shape(const std::string& option, const std::string& value);

// Error naming the layer when the tile does not divide its shape.
void check_tiles_divide(const std::string& layer, std::int64_t rows, std::int64_t cols, const TileShape& tile);

// bool [rows/tr, cols/tc]: which tiles of `keep` (bool [rows, cols]) keep all their weights.
at::Tensor dense_tiles(const at::Tensor& keep, const TileShape& tile);
// Per-tile values [R, C] repeated to element level [R·tr, C·tc].
at::Tensor expand_tiles(const at::Tensor& tiles, const TileShape& tile);

// A mask file layer as a bool tensor [rows, cols].
at::Tensor keep_tensor(const LayerMask& mask);
// A bool keep tensor (any device) as a mask file layer.
LayerMask layer_mask(const at::Tensor& keep);

}  // namespace patchlm
