#pragma once
// The two regularisers of PATCH's loss (per micro-batch; the trainer divides them, like the CE, by the number of
// gradient-accumulation steps):
//   sparsity:  |density(M) − target_density|, density = Σ_l ΣM_l / Σ_l numel(M_l) over all masked layers
//              (global), or the mean over decoder blocks of each block's |density_b − target| (per-block variant)
//   weight:    Σ_l ‖M_l ⊙ W_l‖_F / Σ_l ‖W_l‖_F, entering the loss as −λw · (1 − step/steps) · weight
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

namespace patchlm {

// masks[l] and block_of[l] (the decoder block of layer l).
at::Tensor density(const std::vector<at::Tensor>& masks);
at::Tensor sparsity_regularizer(const std::vector<at::Tensor>& masks, double target_density);
at::Tensor per_block_sparsity_regularizer(const std::vector<at::Tensor>& masks, const std::vector<std::int64_t>& block_of,
                                          double target_density);
// weight_norm_total = Σ_l ‖W_l‖_F (a constant: weights are frozen).
at::Tensor weight_regularizer(const std::vector<at::Tensor>& masks, const std::vector<at::Tensor>& weights,
                              double weight_norm_total);
double weight_regularizer_decay(std::int64_t step, std::int64_t steps);  // 1 − step/steps

}  // namespace patchlm
