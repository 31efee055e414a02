#include "learn/mask_2to4.h"

#include "io/mask_file.h"
#include "learn/gumbel.h"
#include "util/error.h"

namespace patchlm {

at::Tensor candidates_2to4(const at::TensorOptions& options) {
  return at::from_blob(const_cast<std::uint8_t*>(&kTwoFourPatterns[0][0]), {6, 4}, at::kByte).to(options);
}

at::Tensor init_logits_2to4(std::int64_t rows, std::int64_t cols, double std, at::Generator generator,
                            const at::TensorOptions& options) {
  if (cols % 4 != 0) throw Error(str_cat("2:4 masks need the input width to be a multiple of 4, got ", cols));
  at::Tensor logits = at::empty({rows * cols / 4, 6}, options.dtype(at::kFloat));
  return logits.normal_(0.0, std, generator);
}

at::Tensor prior_2to4(const at::Tensor& keep, const std::string& layer) {
  at::Tensor groups = keep.to(at::kFloat).reshape({-1, 4});
  if (!groups.sum(1).eq(2).all().item<bool>()) {
    throw Error(str_cat(layer, ": the 2:4 prior mask does not keep exactly 2 of every 4 weights"));
  }
  return at::mm(groups, candidates_2to4(groups.options()).t()) - 1;  // overlap − 1 (float: groups is float)
}

at::Tensor apply_prior_2to4(const at::Tensor& logits, const at::Tensor& prior, double strength) {
  return prior.to(logits.device()) * logits.std() * strength;
}

at::Tensor soft_mask_2to4(const at::Tensor& logits, const at::Tensor& noise, double kappa, double tau,
                          std::int64_t rows, std::int64_t cols) {
  const at::Tensor probs = gumbel_softmax(logits * kappa, noise, tau);
  return at::mm(probs, candidates_2to4(logits.options())).reshape({rows, cols});
}

at::Tensor hard_mask_2to4(const at::Tensor& logits, std::int64_t rows, std::int64_t cols) {
  return candidates_2to4(logits.options()).index_select(0, logits.argmax(1)).reshape({rows, cols});
}

}  // namespace patchlm
