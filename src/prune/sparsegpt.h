#pragma once
// SparseGPT (Frantar & Alistarh 2023): prune one layer with second-order error feedback. With H = 2/n · XᵀX
// (+ dampening · mean(diag H) · I) and U = chol(H⁻¹) (upper), columns are processed left to right in blocks of
// `block_size`: a weight's pruning cost is w² / U_jj², the chosen weights are zeroed and the error
// (w − q) / U_jj is fed back into the not-yet-processed columns through U's row j (lazily across blocks).
//   unstructured: in every row, the cheapest weights of each block are pruned so that the row's count reaches
//                 round(s · cols) exactly (patchlm's per-row variant; the paper thresholds each block over all rows)
//   N:M:          at the start of every group of M columns, its M − N cheapest weights per row are pruned
//   always_keep:  weights never pruned (dense tiles of a PATCH layout; N:M only)
// Columns no calibration token touched (H_jj = 0) are set to zero, as in the reference.
#include <cstdint>

#include <ATen/ATen.h>

#include "prune/select.h"

namespace patchlm {

struct SparseGptOptions {
  double dampening = 0.01;
  std::int64_t block_size = 128;
};

struct SparseGptResult {
  at::Tensor weight;  // float32 [out, in], pruned entries 0, the rest updated
  at::Tensor keep;    // bool [out, in]
};

SparseGptResult sparsegpt(const at::Tensor& weight, const at::Tensor& hessian, const SparsityPattern& pattern,
                          const at::Tensor& always_keep, const SparseGptOptions& options);

}  // namespace patchlm
