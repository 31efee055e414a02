#pragma once
// Activation checkpointing for one decoder block (LibTorch has no torch.utils.checkpoint in C++): the forward runs
// without recording a graph and keeps only its inputs; the backward recomputes the block with gradients on and
// back-propagates through the recomputation. The masks of the block's projections are explicit inputs, so their
// gradients flow on into the mask logits' graph outside the block.
#include <functional>
#include <vector>

#include <ATen/ATen.h>

namespace patchlm {

// y = fn(h, extra). `fn` must be deterministic (it is called twice) and must outlive the backward pass.
using CheckpointedFn = std::function<at::Tensor(const at::Tensor& h, const std::vector<at::Tensor>& extra)>;
at::Tensor checkpointed(const CheckpointedFn& fn, const at::Tensor& h, const std::vector<at::Tensor>& extra);

}  // namespace patchlm
