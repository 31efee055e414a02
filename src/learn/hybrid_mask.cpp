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

at::Tensor sample_hybrid_mask(const LayerLogits& l, MaskMode mode, const SampleParams& p, const TileShape& tile,
                              at::Generator generator) {
  at::Tensor n24, nt;
  if (mode != MaskMode::tile) n24 = gumbel_noise(l.logits_2to4.sizes(), generator, l.logits_2to4.options());
  if (mode != MaskMode::maskllm) {
    nt = gumbel_noise({l.tile_logits.size(0), l.tile_logits.size(1), 2}, generator, l.tile_logits.options());
  }
  return soft_hybrid_mask(l, mode, p, tile, n24, nt);
}

at::Tensor hard_hybrid_mask(const LayerLogits& l, MaskMode mode, const TileShape& tile) {
  const at::Tensor m24 = mode == MaskMode::tile ? l.fixed_2to4 : hard_mask_2to4(l.logits_2to4, l.rows, l.cols);
  if (mode == MaskMode::maskllm) return m24;
  return combine_hybrid(expand_tiles(hard_tiles(l.tile_logits), tile), m24);
}

at::Tensor MaskedLinear::forward(const Proj& proj, const at::Tensor& x) {
  if (!mask.defined()) throw Error(str_cat(proj.name(), ": no mask set for this pass"));
  const at::Tensor w = proj.weight() * mask.to(proj.weight().scalar_type());
  return proj.bias().defined() ? at::linear(x, w, proj.bias()) : at::linear(x, w);
}

}  // namespace patchlm
