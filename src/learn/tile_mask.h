#pragma once
// The tile part of a PATCH mask: one logit per tr × tc tile, a two-way choice dense (1) / 2:4 (0) whose first
// logit is fixed at 0.
//   soft:  T = gs([0, Lt] · κt, τ)[..., 1], repeated to tile size
//   hard:  dense iff Lt > 0
//   prior: tiles scored by their kept fraction under an unstructured (Wanda) mask at the target sparsity; the
//          N_dense = round(2 · N_tiles · (target_density − 0.5)) best get +1, the others −1;
//          Lt += prior · std(Lt) · strength
#include <cstdint>

#include <ATen/ATen.h>

#include "io/tiles.h"

namespace patchlm {

// N(0, std) logits [rows/tr, cols/tc]. Error naming `layer` when the tile does not divide the shape.
at::Tensor init_tile_logits(const std::string& layer, std::int64_t rows, std::int64_t cols, const TileShape& tile,
                            double std, at::Generator generator, const at::TensorOptions& options);

// How many of `tiles` tiles are dense at `target_density` (clamped to [0, tiles]).
std::int64_t dense_tile_count(std::int64_t tiles, double target_density);
// keep [rows, cols] bool (unstructured mask) → ±1 float [rows/tr, cols/tc].
at::Tensor tile_prior(const at::Tensor& keep, const TileShape& tile, double target_density);
// `init_std` stands in for std(Lt) when a layer has a single tile.
at::Tensor apply_tile_prior(const at::Tensor& logits, const at::Tensor& prior, double strength, double init_std);

// Soft per-tile dense probability [R, C] from logits [R, C] and noise [R, C, 2].
at::Tensor soft_tiles(const at::Tensor& logits, const at::Tensor& noise, double kappa, double tau);
at::Tensor hard_tiles(const at::Tensor& logits);  // float 0/1 [R, C]

}  // namespace patchlm
