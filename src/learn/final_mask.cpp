#include "learn/final_mask.h"

#include <algorithm>
#include <cmath>

#include <ATen/core/grad_mode.h>

#include "learn/hybrid_mask.h"
#include "learn/mask_2to4.h"
#include "learn/tile_mask.h"
#include "model/masks.h"

namespace patchlm {
namespace {

struct TileRef {
  std::size_t layer;
  std::int64_t index;  // row-major in the layer's tile grid
  float confidence;    // |Lt|
};

// Flips tiles in `choices` (per-layer float 0/1 grids) towards the target; returns the number flipped.
std::int64_t adjust_to_target(const std::vector<LayerLogits>& layers, std::vector<at::Tensor>& choices,
                              std::vector<at::Tensor>& fixed24, const TileShape& tile, double kept, double total,
                              double target_sparsity) {
  const double target_kept = std::round((1.0 - target_sparsity) * total);
  const bool too_dense = kept > target_kept;
  std::vector<TileRef> candidates;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const at::Tensor grid = choices[l].reshape({-1});
    const at::Tensor conf = layers[l].tile_logits.detach().abs().reshape({-1}).to(at::kCPU);
    for (std::int64_t i = 0; i < grid.numel(); ++i) {
      if ((grid[i].item<float>() > 0.5f) == too_dense) candidates.push_back({l, i, conf[i].item<float>()});
    }
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const TileRef& a, const TileRef& b) { return a.confidence < b.confidence; });
  std::int64_t flipped = 0;
  for (const TileRef& c : candidates) {
    // Kept weights of this tile as 2:4 (the pattern of the tile's region) vs dense (all of them).
    const std::int64_t C = choices[c.layer].size(1), r = c.index / C, col = c.index % C;
    const double as_sparse = fixed24[c.layer]
                                 .slice(0, r * tile.rows, (r + 1) * tile.rows)
                                 .slice(1, col * tile.cols, (col + 1) * tile.cols)
                                 .sum()
                                 .item<double>();
    const double delta = static_cast<double>(tile.rows * tile.cols) - as_sparse;
    const double next = too_dense ? kept - delta : kept + delta;
    if (std::abs(next - target_kept) >= std::abs(kept - target_kept)) break;
    kept = next;
    choices[c.layer].view({-1})[c.index] = too_dense ? 0.0f : 1.0f;
    ++flipped;
  }
  return flipped;
}

}  // namespace

FinalMask final_mask(const std::vector<LayerLogits>& layers, MaskMode mode, const TileShape& tile,
                     std::optional<double> exact_target_sparsity) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> choices, m24;
  double kept = 0, total = 0;
  for (const LayerLogits& l : layers) {
    m24.push_back((mode == MaskMode::tile ? l.fixed_2to4 : hard_mask_2to4(l.logits_2to4.detach(), l.rows, l.cols)).to(at::kCPU));
    choices.push_back(mode == MaskMode::maskllm ? at::Tensor() : hard_tiles(l.tile_logits.detach()).to(at::kCPU).contiguous());
    const at::Tensor m = choices.back().defined() ? combine_hybrid(expand_tiles(choices.back(), tile), m24.back()) : m24.back();
    kept += m.sum().item<double>();
    total += static_cast<double>(m.numel());
  }
  FinalMask out;
  if (exact_target_sparsity && mode != MaskMode::maskllm) {
    out.flipped_tiles = adjust_to_target(layers, choices, m24, tile, kept, total, *exact_target_sparsity);
  }
  kept = 0;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const LayerLogits& l = layers[i];
    const at::Tensor m = choices[i].defined() ? combine_hybrid(expand_tiles(choices[i], tile), m24[i]) : m24[i];
    const double layer_kept = m.sum().item<double>();
    kept += layer_kept;
    out.masks.layers[l.name] = layer_mask(m > 0.5);
    out.layers.push_back({l.name, l.rows, l.cols, 1.0 - layer_kept / static_cast<double>(m.numel()),
                          choices[i].defined() ? 1.0 - choices[i].mean().item<double>() : 1.0});
  }
  out.sparsity = 1.0 - kept / total;
  return out;
}

}  // namespace patchlm
