#include "learn/regularizers.h"

#include <map>

#include "util/error.h"

namespace patchlm {
namespace {

std::pair<at::Tensor, double> kept_and_total(const std::vector<at::Tensor>& masks) {
  if (masks.empty()) throw Error("no masked layers");
  at::Tensor kept = masks.front().sum();
  double total = static_cast<double>(masks.front().numel());
  for (std::size_t i = 1; i < masks.size(); ++i) {
    kept = kept + masks[i].sum();
    total += static_cast<double>(masks[i].numel());
  }
  return {kept, total};
}

}  // namespace

at::Tensor density(const std::vector<at::Tensor>& masks) {
  auto [kept, total] = kept_and_total(masks);
  return kept / total;
}

at::Tensor sparsity_regularizer(const std::vector<at::Tensor>& masks, double target_density) {
  return (density(masks) - target_density).abs();
}

at::Tensor per_block_sparsity_regularizer(const std::vector<at::Tensor>& masks, const std::vector<std::int64_t>& block_of,
                                          double target_density) {
  std::map<std::int64_t, std::vector<at::Tensor>> blocks;
  for (std::size_t i = 0; i < masks.size(); ++i) blocks[block_of.at(i)].push_back(masks[i]);
  at::Tensor sum;
  for (auto& [block, ms] : blocks) {
    at::Tensor term = (density(ms) - target_density).abs();
    sum = sum.defined() ? sum + term : term;
  }
  return sum / static_cast<double>(blocks.size());
}

at::Tensor weight_regularizer(const std::vector<at::Tensor>& masks, const std::vector<at::Tensor>& weights,
                              double weight_norm_total) {
  at::Tensor sum;
  for (std::size_t i = 0; i < masks.size(); ++i) {
    at::Tensor term = (masks[i] * weights.at(i)).norm();
    sum = sum.defined() ? sum + term : term;
  }
  return sum / weight_norm_total;
}

double weight_regularizer_decay(std::int64_t step, std::int64_t steps) {
  return 1.0 - static_cast<double>(step) / static_cast<double>(steps);
}

}  // namespace patchlm
