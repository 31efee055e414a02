#pragma once
// PATCH's hybrid mask of one layer, M = T + (1 − T) ⊙ M24 (T: tile choice repeated to tile size, M24: 2:4 mask),
// in the three modes:
//   maskllm  M = M24, learned (no tiles)
//   tile     PATCH^Tile: M24 is the fixed 0/1 prior mask, only the tile logits learn
//   joint    PATCH^Joint: tile and 2:4 logits learn together
// and the Linear-seam strategy that applies it: y = x (W ⊙ M)ᵀ + b, W frozen.
#include <string>

#include <ATen/ATen.h>

#include "learn/options.h"
#include "model/proj.h"

namespace patchlm {

struct LayerLogits {
  std::string name;  // weight name
  std::int64_t rows = 0, cols = 0;
  at::Tensor logits_2to4;  // [rows·cols/4, 6], leaf (maskllm, joint)
  at::Tensor tile_logits;  // [rows/tr, cols/tc], leaf (tile, joint)
  at::Tensor fixed_2to4;   // [rows, cols] 0/1 (tile): uint8 in training, a quarter of float's bytes
};

struct SampleParams {
  double tau = 4.0, kappa24 = 100, kappat = 25;
};

// M = T + (1 − T) ⊙ M24 from the tile choice at element level (soft or 0/1) and the 2:4 mask: the one formula of
// training, the final hard mask and the exact-target adjustment.
at::Tensor combine_hybrid(const at::Tensor& tiles, const at::Tensor& mask_2to4);

// The soft mask from explicit noises (noise_2to4 like logits_2to4, noise_tiles [R, C, 2]); differentiable.
at::Tensor soft_hybrid_mask(const LayerLogits& layer, MaskMode mode, const SampleParams& params,
                            const TileShape& tile, const at::Tensor& noise_2to4, const at::Tensor& noise_tiles);
// ΣM of the soft hybrid mask from the soft tile probabilities T [R, C] alone: every 2:4 group keeps exactly 2 of its
// 4 weights — a 0/1 pattern as well as the soft mix of the candidates, Σ_j m_j = 2·Σ_c p_c = 2 — so
// ΣM = Σ_tiles area · (T + (1 − T)/2); maskllm (no tiles): rows·cols/2.
at::Tensor hybrid_kept(const at::Tensor& soft_tiles, MaskMode mode, std::int64_t rows, std::int64_t cols,
                       const TileShape& tile);
// The same for many layers at once (tile, joint): tile_sums = ΣT of each layer, tile_counts = its number of tiles.
at::Tensor hybrid_kept_of_sums(const at::Tensor& tile_sums, const at::Tensor& tile_counts, const TileShape& tile);
// The final 0/1 mask (float): tiles with Lt > 0 dense, elsewhere the argmax (or fixed) 2:4 pattern.
at::Tensor hard_hybrid_mask(const LayerLogits& layer, MaskMode mode, const TileShape& tile);

// The learning strategy of the Linear seam: y = x (W ⊙ M)ᵀ + b with the masked weight set for this pass (the fused
// mask op's output).
class MaskedLinear : public ProjStrategy {
 public:
  at::Tensor masked_weight;  // [out, in], the weight's dtype
  at::Tensor forward(const Proj& proj, const at::Tensor& x) override;
};

}  // namespace patchlm
