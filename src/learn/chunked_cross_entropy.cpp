#include "learn/chunked_cross_entropy.h"

#include <torch/autograd.h>

#include <algorithm>

#include "util/error.h"

namespace patchlm {
namespace {

struct ChunkedCrossEntropy : public torch::autograd::Function<ChunkedCrossEntropy> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& hidden, const at::Tensor& targets,
                            std::int64_t fn_address, std::int64_t rows) {
    const auto& logits_of = *reinterpret_cast<const LogitsFn*>(fn_address);
    at::NoGradGuard no_grad;
    const std::int64_t n = hidden.size(0);
    at::Tensor total = at::zeros({}, hidden.options().dtype(at::kDouble));
    for (std::int64_t start = 0; start < n; start += rows) {
      const std::int64_t len = std::min(rows, n - start);
      const at::Tensor z = logits_of(hidden.narrow(0, start, len));
      const at::Tensor picked = z.gather(1, targets.narrow(0, start, len).unsqueeze(1)).squeeze(1);
      total += (at::logsumexp(z, 1) - picked).sum().to(at::kDouble);
    }
    ctx->save_for_backward({hidden, targets});
    ctx->saved_data["fn"] = fn_address;
    ctx->saved_data["rows"] = rows;
    return (total / static_cast<double>(n)).to(at::kFloat);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &hidden = saved[0], &targets = saved[1];
    const auto& logits_of = *reinterpret_cast<const LogitsFn*>(ctx->saved_data["fn"].toInt());
    const std::int64_t rows = ctx->saved_data["rows"].toInt(), n = hidden.size(0);
    const at::Tensor scale = grad_out.at(0).to(at::kFloat) / static_cast<double>(n);
    at::Tensor grad_hidden = at::empty_like(hidden);
    for (std::int64_t start = 0; start < n; start += rows) {
      const std::int64_t len = std::min(rows, n - start);
      const at::Tensor h = hidden.narrow(0, start, len).detach().requires_grad_(true);
      at::Tensor z;
      {
        at::AutoGradMode grad(true);
        z = logits_of(h);
      }
      // d CE_i / d z_i = softmax(z_i) − onehot(y_i), times the upstream gradient / N.
      at::Tensor dz = at::softmax(z.detach(), 1);
      dz.scatter_add_(1, targets.narrow(0, start, len).unsqueeze(1),
                      at::full({len, 1}, -1.0, dz.options()));
      dz.mul_(scale);
      grad_hidden.narrow(0, start, len).copy_(torch::autograd::grad({z}, {h}, {dz}).at(0));
    }
    return {grad_hidden, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor chunked_cross_entropy(const LogitsFn& logits_of, const at::Tensor& hidden, const at::Tensor& targets,
                                 std::int64_t rows_per_chunk) {
  if (hidden.dim() != 2 || targets.dim() != 1 || targets.size(0) != hidden.size(0) || hidden.size(0) == 0) {
    throw Error("chunked_cross_entropy: hidden [N, H] and targets [N] with N > 0 expected");
  }
  if (rows_per_chunk < 1) throw Error("chunked_cross_entropy: rows_per_chunk must be positive");
  return ChunkedCrossEntropy::apply(hidden, targets, reinterpret_cast<std::int64_t>(&logits_of), rows_per_chunk);
}

std::int64_t cross_entropy_chunk_rows(std::int64_t vocab) {
  return std::max<std::int64_t>(1, (std::int64_t{256} << 20) / (4 * std::max<std::int64_t>(vocab, 1)));
}

}  // namespace patchlm
