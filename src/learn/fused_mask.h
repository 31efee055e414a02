#pragma once
// PATCH's soft hybrid mask applied to a frozen weight in one pass — the op a learning step runs per layer:
//   out = W ⊙ M,  M = T + (1 − T) ⊙ M24,  M24 = gs(L24 · κ24, τ) @ C  (hybrid_mask.h has the composed formula)
// Forward: per group of 4 weights it draws the 6 Gumbel noises from the counter-based generator (gumbel_counter.h),
// takes the softmax over the candidates, mixes with the soft tile choice and writes W ⊙ M in the weight's dtype —
// one pass over the logits, no noise, soft mask or probabilities stored. Backward: from dL/d(W ⊙ M) it draws the
// same noise again and writes dL/dL24 and dL/dT in one pass. The tile probabilities T (one per tile, small) come in
// as a differentiable input, so their own Gumbel-Softmax stays an ordinary ATen expression.
// CPU kernel: at::parallel_for over rows; CUDA kernel: fused_mask.cu (where nvcc exists); elsewhere the composed
// reference below.
#include <cstdint>
#include <functional>

#include <ATen/ATen.h>

#include "learn/hybrid_mask.h"

namespace patchlm {

// Where dL/dL24 goes when it is not autograd's: called once per backward pass of the op with the layer's gradient
// (fp32, the shape of logits_2to4), which is freed when the call returns — the trainer runs the optimizer there.
using LogitGradSink = std::function<void(const at::Tensor& grad_2to4)>;

// W ⊙ M of `layer` for the noise streams of one micro-batch (stream_2to4: the 2:4 logits' noise).
// soft_tile_probs: [rows/tr, cols/tc] (tile, joint; undefined for maskllm). Differentiable in soft_tile_probs and —
// without a sink — in the layer's 2:4 logits (fp32 or bf16); weight is frozen. Output dtype = the weight's.
// With a sink (which must outlive the backward pass) the 2:4 logits' gradient goes to it instead; `anchor`, an empty
// tensor that requires grad, then keeps the op on the backward path where nothing else would (maskllm mode).
// With `norm`, also ‖W ⊙ M‖ (fp32 for 16-bit weights): the weight regulariser's term, whose gradient (W ⊙ M)·g/‖W ⊙ M‖
// the backward pass adds to dL/d(W ⊙ M) inside its own pass over W — no multiply and no addition of tensors of the
// weight's size (they were ~3 % of a PATCH^Tile step on LLaMA-3.2-1B).
at::Tensor fused_masked_weight(const at::Tensor& weight, const LayerLogits& layer, MaskMode mode,
                               const SampleParams& params, const TileShape& tile, const at::Tensor& soft_tile_probs,
                               std::uint64_t stream_2to4, const LogitGradSink* sink = nullptr,
                               const at::Tensor& anchor = {}, at::Tensor* norm = nullptr);

// The same value through the composed ATen formula (soft_hybrid_mask with the counter noise materialised): the
// oracle of the fused kernels and the path of devices without one. Slow and memory-hungry.
at::Tensor reference_masked_weight(const at::Tensor& weight, const LayerLogits& layer, MaskMode mode,
                                   const SampleParams& params, const TileShape& tile,
                                   const at::Tensor& soft_tile_probs, std::uint64_t stream_2to4);

}  // namespace patchlm
