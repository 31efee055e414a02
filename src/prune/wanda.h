#pragma once
// Wanda (Sun et al. 2023): score S_ij = |W_ij| · ‖X_j‖₂, the weight magnitude times the L2 norm of its input
// column over all calibration tokens; the comparison group is one output row (or one group of M for N:M).
#include <ATen/ATen.h>

#include "prune/select.h"

namespace patchlm {

// sum_sq [in]: Σ over calibration tokens of x_j² (InputStats::sum_sq).
at::Tensor wanda_score(const at::Tensor& weight, const at::Tensor& sum_sq);
at::Tensor wanda_keep(const at::Tensor& weight, const at::Tensor& sum_sq, const SparsityPattern& pattern,
                      const at::Tensor& always_keep = {});

}  // namespace patchlm
