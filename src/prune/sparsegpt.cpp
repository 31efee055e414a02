#include "prune/sparsegpt.h"

#include <cmath>

#include "util/error.h"

namespace patchlm {
namespace {

// U = chol(H⁻¹) as an upper triangle, after the dead-column fix and dampening of H (in place).
at::Tensor inverse_hessian_factor(at::Tensor& H, double dampening) {
  H.diagonal().add_(H.diagonal().mean() * dampening);
  auto [L, info] = at::linalg_cholesky_ex(H);
  if (info.item<int>() != 0) {
    throw Error(str_cat("sparsegpt: the dampened Hessian is not positive definite (raise --dampening, now ",
                        dampening, ")"));
  }
  return at::linalg_cholesky(at::cholesky_inverse(L), /*upper=*/true);
}

std::int64_t unstructured_target(double sparsity, std::int64_t columns) {
  return static_cast<std::int64_t>(std::llround(sparsity * static_cast<double>(columns)));
}

}  // namespace

SparseGptResult sparsegpt(const at::Tensor& weight, const at::Tensor& hessian, const SparsityPattern& p,
                          const at::Tensor& always_keep, const SparseGptOptions& o) {
  const std::int64_t rows = weight.size(0), cols = weight.size(1);
  if (hessian.dim() != 2 || hessian.size(0) != cols || hessian.size(1) != cols) {
    throw Error(str_cat("sparsegpt: Hessian must be ", cols, "x", cols));
  }
  if (o.block_size < 1) throw UsageError(str_cat("--block-size: must be positive, got ", o.block_size));
  if (!(o.dampening > 0)) throw UsageError(str_cat("--dampening: must be positive, got ", o.dampening));
  if (p.nm && (cols % p.m != 0 || o.block_size % p.m != 0)) {
    throw Error(str_cat("sparsegpt: pattern ", p.name(), " needs the input width (", cols, ") and the block size (",
                        o.block_size, ") to be multiples of ", p.m));
  }
  if (always_keep.defined() && !p.nm) throw Error("a dense-tile layout combines only with an N:M pattern");

  at::Tensor W = weight.to(at::kFloat).clone();
  at::Tensor H = hessian.to(W.device(), at::kFloat).clone();
  const at::Tensor dead = H.diagonal() == 0;
  H.diagonal().masked_fill_(dead, 1);
  W.masked_fill_(dead.unsqueeze(0), 0);
  const at::Tensor U = inverse_hessian_factor(H, o.dampening);
  const at::Tensor forced = always_keep.defined() ? always_keep.to(W.device(), at::kBool) : at::Tensor();
  at::Tensor keep = at::ones({rows, cols}, W.options().dtype(at::kBool));

  for (std::int64_t i1 = 0; i1 < cols; i1 += o.block_size) {
    const std::int64_t i2 = std::min(cols, i1 + o.block_size), count = i2 - i1;
    // Columns of this block as contiguous rows: [count, rows].
    at::Tensor W1 = W.slice(1, i1, i2).t().contiguous();
    at::Tensor Q1 = at::zeros_like(W1), Err1 = at::zeros_like(W1);
    const at::Tensor U1 = U.slice(0, i1, i2).slice(1, i1, i2);
    const at::Tensor d2 = U1.diagonal().square().unsqueeze(1);  // [count, 1]
    at::Tensor prune1 = at::zeros({count, rows}, keep.options());
    if (!p.nm) {
      const std::int64_t k = unstructured_target(p.sparsity, i2) - unstructured_target(p.sparsity, i1);
      if (k > 0) prune1.scatter_(0, std::get<1>((W1.square() / d2).topk(k, 0, /*largest=*/false)), true);
    }
    for (std::int64_t i = 0; i < count; ++i) {
      if (p.nm && i % p.m == 0) {
        at::Tensor group = prune1.slice(0, i, i + p.m);
        const at::Tensor cost = W1.slice(0, i, i + p.m).square() / d2.slice(0, i, i + p.m);
        group.scatter_(0, std::get<1>(cost.topk(p.m - p.n, 0, /*largest=*/false)), true);
        if (forced.defined()) group.logical_and_(forced.slice(1, i1 + i, i1 + i + p.m).t().logical_not());
      }
      const at::Tensor w = W1.select(0, i);
      const at::Tensor q = w.masked_fill(prune1.select(0, i), 0);
      Q1.select(0, i).copy_(q);
      const at::Tensor err = (w - q) / U1[i][i];
      W1.slice(0, i, count).addr_(U1.select(0, i).slice(0, i, count), err, 1, -1);
      Err1.select(0, i).copy_(err);
    }
    W.slice(1, i1, i2).copy_(Q1.t());
    if (i2 < cols) W.slice(1, i2, cols).addmm_(Err1.t(), U.slice(0, i1, i2).slice(1, i2, cols), 1, -1);
    keep.slice(1, i1, i2).copy_(prune1.t().logical_not());
  }
  return {W, keep};
}

}  // namespace patchlm
