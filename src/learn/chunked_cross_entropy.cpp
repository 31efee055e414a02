#include "learn/chunked_cross_entropy.h"

#include <torch/autograd.h>

#include <algorithm>

#include "learn/cross_entropy_rows.h"
#include "util/error.h"

namespace patchlm {
namespace {

struct ChunkedCrossEntropy : public torch::autograd::Function<ChunkedCrossEntropy> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& hidden, const at::Tensor& targets,
                            std::int64_t fn_address, std::int64_t rows, double softcap, bool with_grad) {
    const auto& logits_of = *reinterpret_cast<const LogitsFn*>(fn_address);
    const std::int64_t n = hidden.size(0);
    at::Tensor losses = at::empty({n}, hidden.options().dtype(at::kFloat));
    at::Tensor grad_hidden = with_grad ? at::empty_like(hidden, at::MemoryFormat::Contiguous) : at::Tensor();
    for (std::int64_t start = 0; start < n; start += rows) {
      const std::int64_t len = std::min(rows, n - start);
      const at::Tensor y = targets.narrow(0, start, len);
      if (!with_grad) {
        at::NoGradGuard no_grad;
        losses.narrow(0, start, len).copy_(cross_entropy_rows(logits_of(hidden.narrow(0, start, len)), y, softcap,
                                                              false, 1.0).loss);
        continue;
      }
      at::AutoGradMode grad_mode(true);
      const at::Tensor h = hidden.narrow(0, start, len).detach().requires_grad_(true);
      const at::Tensor z = logits_of(h);
      // d CE / d z_i = (softmax(z'_i) − onehot(y_i)) · cap'(z_i) / N; the upstream gradient scales dL/dh later.
      const CrossEntropyRows ce = cross_entropy_rows(z.detach(), y, softcap, true, 1.0 / static_cast<double>(n));
      losses.narrow(0, start, len).copy_(ce.loss);
      grad_hidden.narrow(0, start, len).copy_(torch::autograd::grad({z}, {h}, {ce.grad}).at(0));
    }
    if (with_grad) ctx->save_for_backward({grad_hidden});
    return (losses.sum(at::kDouble) / static_cast<double>(n)).to(at::kFloat);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    if (saved.empty()) throw Error("chunked_cross_entropy: backward through a loss made without a gradient");
    // A 0-dim fp32 factor keeps the stored gradient's dtype (math in fp32).
    at::Tensor grad_hidden = saved[0] * grad_out.at(0);
    return {grad_hidden, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor chunked_cross_entropy(const LogitsFn& logits_of, const at::Tensor& hidden, const at::Tensor& targets,
                                 std::int64_t rows_per_chunk, double softcap) {
  if (hidden.dim() != 2 || targets.dim() != 1 || targets.size(0) != hidden.size(0) || hidden.size(0) == 0) {
    throw Error("chunked_cross_entropy: hidden [N, H] and targets [N] with N > 0 expected");
  }
  if (rows_per_chunk < 1) throw Error("chunked_cross_entropy: rows_per_chunk must be positive");
  const bool with_grad = at::GradMode::is_enabled() && hidden.requires_grad();
  return ChunkedCrossEntropy::apply(hidden, targets, reinterpret_cast<std::int64_t>(&logits_of), rows_per_chunk,
                                    softcap, with_grad);
}

std::int64_t cross_entropy_chunk_rows(std::int64_t vocab) {
  const std::int64_t rows = std::max<std::int64_t>(1, (std::int64_t{256} << 20) / (4 * std::max<std::int64_t>(vocab, 1)));
  return rows >= 128 ? rows / 128 * 128 : rows;
}

}  // namespace patchlm
