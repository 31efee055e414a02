#include "learn/hybrid_mask.h"

#include "learn/gumbel.h"
#include "learn/mask_2to4.h"
#include "learn/tile_mask.h"
#include "model/masks.h"
#include "util/error.h"

namespace patchlm {

at::Tensor combine_hybrid(const at::Tensor& tiles, const at::Tensor& mask_2to4) {
  return tiles + (1 - tiles) * mask_2to4;
}

at::Tensor soft_hybrid_mask(const LayerLogits& l, MaskMode mode, const SampleParams& p, const TileShape& tile,
                            const at::Tensor& noise_2to4, const at::Tensor& noise_tiles) {
  if (mode == MaskMode::maskllm) return soft_mask_2to4(l.logits_2to4, noise_2to4, p.kappa24, p.tau, l.rows, l.cols);
  const at::Tensor m24 = mode == MaskMode::tile ? l.fixed_2to4
                                                : soft_mask_2to4(l.logits_2to4, noise_2to4, p.kappa24, p.tau, l.rows, l.cols);
  return combine_hybrid(expand_tiles(soft_tiles(l.tile_logits, noise_tiles, p.kappat, p.tau), tile), m24);
}

at::Tensor hybrid_kept(const at::Tensor& soft_tiles, MaskMode mode, std::int64_t rows, std::int64_t cols,
                       const TileShape& tile) {
  if (mode == MaskMode::maskllm) return at::scalar_tensor(static_cast<double>(rows * cols) / 2, at::kDouble);
  return hybrid_kept_of_sums(soft_tiles.sum(), at::scalar_tensor(static_cast<double>(soft_tiles.numel()), soft_tiles.options()),
                             tile);
}

at::Tensor hybrid_kept_of_sums(const at::Tensor& tile_sums, const at::Tensor& tile_counts, const TileShape& tile) {
  const double area = static_cast<double>(tile.rows * tile.cols);
  return (tile_sums + tile_counts) * (area / 2);
}

at::Tensor hard_hybrid_mask(const LayerLogits& l, MaskMode mode, const TileShape& tile) {
  const at::Tensor m24 = mode == MaskMode::tile ? l.fixed_2to4 : hard_mask_2to4(l.logits_2to4, l.rows, l.cols);
  if (mode == MaskMode::maskllm) return m24;
  return combine_hybrid(expand_tiles(hard_tiles(l.tile_logits), tile), m24);
}

at::Tensor MaskedLinear::forward(const Proj& proj, const at::Tensor& x) {
  if (!masked_weight.defined()) throw Error(str_cat(proj.name(), ": no masked weight set for this pass"));
  return proj.bias().defined() ? at::linear(x, masked_weight, proj.bias()) : at::linear(x, masked_weight);
}

}  // namespace patchlm
