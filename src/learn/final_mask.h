#pragma once
// The hard mask at the end of learning: tile dense iff Lt > 0, elsewhere the argmax (or the fixed prior) 2:4
// pattern. With an exact target, the least confident tiles (smallest |Lt|) are flipped — dense → 2:4 when the
// mask is too dense, 2:4 → dense when too sparse — while a flip brings the global sparsity closer to the target,
// so it lands on the target to within one tile.
#include <optional>
#include <vector>

#include "io/mask_file.h"
#include "learn/hybrid_mask.h"

namespace patchlm {

struct LayerSummary {
  std::string name;
  std::int64_t rows = 0, cols = 0;
  double sparsity = 0;
  double two_four_tile_share = 1;  // share of 2:4 tiles (1 in maskllm mode)
};

struct FinalMask {
  MaskSet masks;
  std::vector<LayerSummary> layers;
  double sparsity = 0;               // global, over all masked weights
  std::int64_t flipped_tiles = 0;    // by the exact-target adjustment
};

FinalMask final_mask(const std::vector<LayerLogits>& layers, MaskMode mode, const TileShape& tile,
                     std::optional<double> exact_target_sparsity);

}  // namespace patchlm
