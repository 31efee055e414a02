#pragma once
// Turning importance scores into keep-masks for a sparsity pattern: unstructured (exactly round(cols·s) weights
// pruned in every row — the per-output-row comparison group of Wanda) or N:M (N of every M consecutive weights
// along the input dimension kept). Shared by every one-shot pruner.
#include <string>

#include <ATen/ATen.h>

namespace patchlm {

struct SparsityPattern {
  bool nm = true;         // N:M, else unstructured
  std::int64_t n = 2, m = 4;
  double sparsity = 0.5;  // unstructured only (N:M implies 1 - n/m)
  std::string name() const;
};

// "2:4", "N:M" or "unstructured" (with `sparsity` in [0, 1)). UsageError names the value otherwise.
SparsityPattern parse_pattern(const std::string& pattern, double sparsity);

// score [rows, cols] (higher = more important) → bool keep-mask [rows, cols]. Error when cols % m != 0.
// `always_keep` (bool [rows, cols], optional) marks weights that stay whatever their score: the dense tiles of a
// PATCH hybrid layout, with N:M applied in the others. Only N:M patterns take it (Error otherwise).
at::Tensor keep_mask(const at::Tensor& score, const SparsityPattern& pattern, const at::Tensor& always_keep = {});

}  // namespace patchlm
