#pragma once
// Magnitude pruning: keep the weights of largest |w| (per row for unstructured, per group of M for N:M).
#include <ATen/ATen.h>

#include "prune/select.h"

namespace patchlm {

at::Tensor magnitude_keep(const at::Tensor& weight, const SparsityPattern& pattern, const at::Tensor& always_keep = {});

}  // namespace patchlm
