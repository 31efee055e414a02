#include "learn/tile_mask.h"

#include <algorithm>
#include <cmath>

#include "learn/gumbel.h"
#include "model/masks.h"

namespace patchlm {

at::Tensor init_tile_logits(const std::string& layer, std::int64_t rows, std::int64_t cols, const TileShape& tile,
                            double std, at::Generator generator, const at::TensorOptions& options) {
  check_tiles_divide(layer, rows, cols, tile);
  at::Tensor logits = at::empty({rows / tile.rows, cols / tile.cols}, options.dtype(at::kFloat));
  return logits.normal_(0.0, std, generator);
}

std::int64_t dense_tile_count(std::int64_t tiles, double target_density) {
  const auto n = static_cast<std::int64_t>(std::llround(2.0 * static_cast<double>(tiles) * (target_density - 0.5)));
  return std::clamp<std::int64_t>(n, 0, tiles);
}

at::Tensor tile_prior(const at::Tensor& keep, const TileShape& tile, double target_density) {
  const std::int64_t R = keep.size(0) / tile.rows, C = keep.size(1) / tile.cols;
  const at::Tensor score = keep.to(at::kFloat).reshape({R, tile.rows, C, tile.cols}).mean({1, 3}).reshape({-1});
  const std::int64_t dense = dense_tile_count(R * C, target_density);
  // Stable: among equal scores the earlier tile (row-major) wins, so the prior is reproducible everywhere.
  const at::Tensor order = std::get<1>(score.sort(/*stable=*/true, 0, /*descending=*/true));
  at::Tensor prior = at::full({R * C}, -1.0f, score.options());
  prior.index_fill_(0, order.slice(0, 0, dense), 1.0);
  return prior.reshape({R, C});
}

at::Tensor apply_tile_prior(const at::Tensor& logits, const at::Tensor& prior, double strength, double init_std) {
  const at::Tensor std = logits.numel() > 1 ? logits.std() : at::scalar_tensor(init_std, logits.options());
  return logits + prior.to(logits.device()) * std * strength;
}

at::Tensor soft_tiles(const at::Tensor& logits, const at::Tensor& noise, double kappa, double tau) {
  const at::Tensor two_way = at::stack({at::zeros_like(logits), logits * kappa}, -1);
  return gumbel_softmax(two_way, noise, tau).select(-1, 1);
}

at::Tensor hard_tiles(const at::Tensor& logits) { return (logits > 0).to(at::kFloat); }

}  // namespace patchlm
