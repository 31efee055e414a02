#pragma once
// The 2:4 part of a learnable mask (MaskLLM's parametrisation, used by PATCH^Joint): every group of 4 consecutive
// weights along the input dimension chooses one of the 6 ways to keep 2, through logits L24 [groups, 6].
//   soft:  M24 = gs(L24 · κ24, τ) @ C, C = the [6, 4] 0/1 candidate matrix, reshaped to [out, in]
//   hard:  C[argmax L24]
//   prior: p[g, c] = overlap(c, P_g) − 1 ∈ {−1, 0, 1} from a one-shot 2:4 mask P; L24 = p · std(L24) · strength
#include <cstdint>

#include <ATen/ATen.h>

namespace patchlm {

// [6, 4] in the options' dtype and device: io/mask_file's kTwoFourPatterns (1100, 1010, 1001, 0110, 0101, 0011).
at::Tensor candidates_2to4(const at::TensorOptions& options);

// N(0, std) logits [rows·cols/4, 6]. Error unless cols is a multiple of 4.
at::Tensor init_logits_2to4(std::int64_t rows, std::int64_t cols, double std, at::Generator generator,
                            const at::TensorOptions& options);

// keep [rows, cols] (bool, exactly 2 of every 4) → p [rows·cols/4, 6] float. Error naming `layer` otherwise.
at::Tensor prior_2to4(const at::Tensor& keep, const std::string& layer);
// p · std(logits) · strength (the prior replaces the random initialisation, as in PATCH.md).
at::Tensor apply_prior_2to4(const at::Tensor& logits, const at::Tensor& prior, double strength);

// Soft mask [rows, cols] from logits and Gumbel noise of the same shape as the logits.
at::Tensor soft_mask_2to4(const at::Tensor& logits, const at::Tensor& noise, double kappa, double tau,
                          std::int64_t rows, std::int64_t cols);
// Hard 0/1 mask [rows, cols] (float): the most likely candidate of every group.
at::Tensor hard_mask_2to4(const at::Tensor& logits, std::int64_t rows, std::int64_t cols);

}  // namespace patchlm
