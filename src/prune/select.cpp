#include "prune/select.h"

#include <cmath>

#include "util/error.h"

namespace patchlm {

std::string SparsityPattern::name() const {
  return nm ? str_cat(n, ":", m) : str_cat("unstructured ", sparsity);
}

SparsityPattern parse_pattern(const std::string& pattern, double sparsity) {
  SparsityPattern p;
  if (pattern == "unstructured") {
    if (!(sparsity >= 0 && sparsity < 1)) throw UsageError(str_cat("--sparsity: must be in [0, 1), got ", sparsity));
    p.nm = false;
    p.sparsity = sparsity;
    return p;
  }
  long long n = 0, m = 0;
  char tail = 0;
  if (std::sscanf(pattern.c_str(), "%lld:%lld%c", &n, &m, &tail) != 2 || n < 1 || m < 1 || n > m) {
    throw UsageError(str_cat("--pattern: ", in_quotes(pattern), " is not N:M (e.g. 2:4) or unstructured"));
  }
  p.n = n;
  p.m = m;
  p.sparsity = 1.0 - static_cast<double>(n) / static_cast<double>(m);
  return p;
}

at::Tensor keep_mask(const at::Tensor& score, const SparsityPattern& p, const at::Tensor& always_keep) {
  const std::int64_t rows = score.size(0), cols = score.size(1);
  if (always_keep.defined() && !p.nm) throw Error("a dense-tile layout combines only with an N:M pattern");
  if (p.nm) {
    if (cols % p.m != 0) throw Error(str_cat("pattern ", p.name(), ": ", cols, " input columns are not a multiple of ", p.m));
    at::Tensor groups = score.reshape({rows, cols / p.m, p.m});
    at::Tensor keep = at::zeros_like(groups, at::kBool);
    keep.scatter_(2, std::get<1>(groups.topk(p.n, 2, /*largest=*/true)), true);
    keep = keep.reshape({rows, cols});
    return always_keep.defined() ? keep.logical_or_(always_keep.to(keep.device())) : keep;
  }
  const auto prune = static_cast<std::int64_t>(std::llround(static_cast<double>(cols) * p.sparsity));
  at::Tensor keep = at::ones({rows, cols}, score.options().dtype(at::kBool));
  if (prune > 0) keep.scatter_(1, std::get<1>(score.topk(prune, 1, /*largest=*/false)), false);
  return keep;
}

}  // namespace patchlm
