#include "prune/magnitude.h"

namespace patchlm {

at::Tensor magnitude_keep(const at::Tensor& weight, const SparsityPattern& pattern, const at::Tensor& always_keep) {
  return keep_mask(weight.to(at::kFloat).abs(), pattern, always_keep);
}

}  // namespace patchlm
