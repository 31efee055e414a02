#pragma once
// Tile geometry, the one vocabulary of pruning, mask learning, export, inspection and the GPU kernels: a weight
// W [rows = out, cols = in] is cut into tiles of TileShape (default 128 × 128, PATCH's mask granularity), which must
// divide both dimensions. Every tile of a keep-mask is one TileKind — dense (every weight kept), 2:4 (every group of 4
// consecutive weights along the input dimension keeps at most 2: what the sparse tensor cores run) or other — and the
// share of 2:4 tiles is what sets a hybrid weight's bytes (1 − 0.4375 · share of the dense bytes). Torch-free.
#include <cstdint>
#include <string>
#include <vector>

namespace patchlm {

struct TileShape {
  std::int64_t rows = 128, cols = 128;

  std::string name() const;  // "128x128"
  bool operator==(const TileShape&) const = default;
};

// "128x128" or "128" (square). UsageError naming `option` and the value otherwise.
TileShape parse_tile_shape(const std::string& option, const std::string& value);

bool tiles_divide(std::int64_t rows, std::int64_t cols, const TileShape& tile);
// Error naming `layer` when the tile does not divide its shape.
void check_tiles_divide(const std::string& layer, std::int64_t rows, std::int64_t cols, const TileShape& tile);

// The packed hybrid layout (io/hybrid_layout.h) stores tiles as 16-row slices of 64-column steps: Error naming
// `what` unless the tile is a positive multiple of 16 rows × 64 columns.
void check_packable_tile(const TileShape& tile, const std::string& what);

// A weight [rows, cols] cut into tiles (row blocks of tile.rows rows, tiles_per_row tiles each).
struct TileGrid {
  std::int64_t rows = 0, cols = 0;
  TileShape tile;

  std::int64_t row_blocks() const { return rows / tile.rows; }
  std::int64_t tiles_per_row() const { return cols / tile.cols; }
  std::int64_t tile_count() const { return row_blocks() * tiles_per_row(); }
  std::int64_t dense_tile_bytes() const { return tile.rows * tile.cols * 2; }       // bf16
  std::int64_t sparse_tile_bytes() const { return tile.rows * tile.cols * 9 / 8; }  // kept bf16 + 2-bit indices
};

enum class TileKind : std::uint8_t { dense, two_four, other };

// The kind of the tile whose top-left weight is `keep` (1 = kept) in rows of `stride` weights.
TileKind classify_tile(const std::uint8_t* keep, std::int64_t stride, const TileShape& tile);
// Every tile of keep [rows, cols], row-major over the tile grid. Error naming `layer` when the tile does not divide.
std::vector<TileKind> classify_tiles(const std::uint8_t* keep, std::int64_t rows, std::int64_t cols,
                                     const TileShape& tile, const std::string& layer);
// Fraction of `kinds` that are 2:4 (0 for none).
double two_four_tile_share(const std::vector<TileKind>& kinds);

}  // namespace patchlm
