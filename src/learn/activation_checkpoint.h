#pragma once
// Activation checkpointing for one decoder block (LibTorch has no torch.utils.checkpoint in C++): the forward runs
// without recording a graph and keeps only its inputs; the backward recomputes the block with gradients on and
// back-propagates through the recomputation. What the block needs besides its input — the soft tile choices of its
// projections, an anchor — comes in as explicit inputs, so gradients flow on to the mask logits' graph outside the
// block; a block may return more than one tensor (its output and, e.g., its masked weights' norms).
#include <functional>
#include <vector>

#include <ATen/ATen.h>

namespace patchlm {

// outputs = fn(h, extra). `fn` must be deterministic (it is called twice) and must outlive the backward pass.
using CheckpointedFn =
    std::function<std::vector<at::Tensor>(const at::Tensor& h, const std::vector<at::Tensor>& extra)>;
std::vector<at::Tensor> checkpointed(const CheckpointedFn& fn, const at::Tensor& h, const std::vector<at::Tensor>& extra);

}  // namespace patchlm
