#include "prune/wanda.h"

#include "util/error.h"

namespace patchlm {

at::Tensor wanda_score(const at::Tensor& weight, const at::Tensor& sum_sq) {
  if (sum_sq.dim() != 1 || sum_sq.size(0) != weight.size(1)) {
    throw Error(str_cat("wanda: input statistics have ", sum_sq.numel(), " columns, the weight ", weight.size(1)));
  }
  return weight.to(at::kFloat).abs() * sum_sq.to(weight.device(), at::kFloat).sqrt().unsqueeze(0);
}

at::Tensor wanda_keep(const at::Tensor& weight, const at::Tensor& sum_sq, const SparsityPattern& pattern,
                      const at::Tensor& always_keep) {
  return keep_mask(wanda_score(weight, sum_sq), pattern, always_keep);
}

}  // namespace patchlm
