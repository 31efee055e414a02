#include "learn/cross_entropy_rows.h"

#include "util/error.h"

#include "learn/cross_entropy_rows_kernels.h"

#if PATCHLM_LEARN_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace patchlm {
namespace {

// The formula in ATen's ops, fp32 (fp64 for fp64 logits): the CPU path, and the oracle of the CUDA kernel's tests.
CrossEntropyRows composed(const at::Tensor& logits, const at::Tensor& targets, double softcap, bool with_grad,
                          double grad_scale) {
  const std::int64_t vocab = logits.size(1);
  if (targets.numel() > 0) {
    const std::int64_t lo = targets.min().item<std::int64_t>(), hi = targets.max().item<std::int64_t>();
    if (lo < 0 || hi >= vocab) {
      throw Error(str_cat("cross_entropy_rows: target ", lo < 0 ? lo : hi, " is outside the vocabulary [0, ", vocab,
                          ")"));
    }
  }
  at::Tensor z = logits.scalar_type() == at::kDouble ? logits : logits.to(at::kFloat);
  if (softcap > 0) z = at::tanh(z / softcap) * softcap;
  const at::Tensor lse = at::logsumexp(z, 1, /*keepdim=*/true);
  const at::Tensor index = targets.unsqueeze(1);
  CrossEntropyRows out;
  out.loss = (lse - z.gather(1, index)).squeeze(1).to(at::kFloat);
  if (!with_grad) return out;
  at::Tensor g = at::exp(z - lse);
  g.scatter_add_(1, index, at::full({index.size(0), 1}, -1.0, g.options()));
  if (softcap > 0) g.mul_(1.0 - (z / softcap).square());
  out.grad = g.mul_(grad_scale).to(logits.scalar_type());
  return out;
}

}  // namespace

CrossEntropyRows cross_entropy_rows(const at::Tensor& logits, const at::Tensor& targets, double softcap,
                                    bool with_grad, double grad_scale) {
  if (logits.dim() != 2 || targets.dim() != 1 || targets.size(0) != logits.size(0) || logits.size(1) == 0) {
    throw Error("cross_entropy_rows: logits [rows, vocab > 0] and targets [rows] expected");
  }
  if (targets.scalar_type() != at::kLong || targets.device() != logits.device()) {
    throw Error("cross_entropy_rows: targets must be int64 on the logits' device");
  }
#if PATCHLM_LEARN_CUDA
  if (logits.is_cuda() && logits.scalar_type() == at::kBFloat16) {
    const at::Tensor z = logits.detach().contiguous();
    const at::Tensor y = targets.contiguous();
    CrossEntropyRows out;
    out.loss = at::empty({z.size(0)}, z.options().dtype(at::kFloat));
    CrossEntropyRowsLaunch k;
    k.logits = z.data_ptr();
    k.targets = y.const_data_ptr<std::int64_t>();
    k.loss = out.loss.mutable_data_ptr<float>();
    k.rows = z.size(0);
    k.vocab = z.size(1);
    k.softcap = static_cast<float>(softcap);
    k.with_grad = with_grad;
    k.grad_scale = static_cast<float>(grad_scale);
    k.cuda_stream = at::cuda::getCurrentCUDAStream(z.get_device()).stream();
    cross_entropy_rows_cuda(k);
    if (with_grad) out.grad = z;
    return out;
  }
#endif
  return composed(logits, targets, softcap, with_grad, grad_scale);
}

}  // namespace patchlm
