#pragma once
// The two regularisers of PATCH's loss (per micro-batch; the trainer divides them, like the CE, by the number of
// gradient-accumulation steps):
//   sparsity:  |density(M) − target_density|, density = Σ_l ΣM_l / Σ_l numel(M_l) over all masked layers
//              (global), or the mean over decoder blocks of each block's |density_b − target| (per-block variant)
//   weight:    Σ_l ‖M_l ⊙ W_l‖_F / Σ_l ‖W_l‖_F, entering the loss as −λw · (1 − step/steps) · weight
// They take what the masks add up to, not the masks: ΣM_l of a hybrid mask follows from its tile choice alone
// (hybrid_mask.h, hybrid_kept), and M_l ⊙ W_l is what the fused mask op returns, so training never materialises M.
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

namespace patchlm {

// ΣM of one layer (a differentiable scalar) and numel(M).
struct LayerKept {
  at::Tensor kept;
  double total = 0;
};
LayerKept kept_of(const at::Tensor& mask);  // {mask.sum(), numel}

// ΣM and numel(M) of every masked layer, in one order, as two [L] tensors of one dtype on one device: kept
// differentiable, total constant. The trainer forms kept for all layers at once (tile_bank.h); kept_masks stacks
// single layers (in the first one's dtype and device).
struct KeptMasks {
  at::Tensor kept, total;
};
KeptMasks kept_masks(const std::vector<LayerKept>& layers);

at::Tensor density(const KeptMasks& masks);
at::Tensor sparsity_regularizer(const KeptMasks& masks, double target_density);
// membership: [B, L] 0/1, row b marking the layers of decoder block b (block_membership).
at::Tensor per_block_sparsity_regularizer(const KeptMasks& masks, const at::Tensor& membership, double target_density);
// block_of[l]: the decoder block of layer l → [B, L] 0/1 in `options`' dtype and device, blocks in increasing order.
at::Tensor block_membership(const std::vector<std::int64_t>& block_of, const at::TensorOptions& options);
// ‖t‖_F as an fp32 scalar (fp32 accumulation, no fp32 copy of a bf16 tensor); differentiable.
at::Tensor frobenius_norm(const at::Tensor& t);
// The same value without autograd (fp32 for 16-bit t, t's dtype otherwise).
at::Tensor frobenius_norm_value(const at::Tensor& t);
// norms: the ‖M_l ⊙ W_l‖_F of the layers (or sums of them, e.g. per block); weight_norm_total = Σ_l ‖W_l‖_F (a
// constant: weights are frozen).
at::Tensor weight_regularizer(const std::vector<at::Tensor>& norms, double weight_norm_total);
double weight_regularizer_decay(std::int64_t step, std::int64_t steps);  // 1 − step/steps

}  // namespace patchlm
