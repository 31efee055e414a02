#pragma once
// Gumbel-Softmax (Jang et al. 2017): gs(z, τ) = softmax((z + g) / τ), g = −log(−log U), U ~ Uniform(0, 1).
// The noise is drawn from an explicit generator (seeded, its state saved in learning checkpoints) and can be
// passed in, so tests can fix it.
#include <ATen/ATen.h>

namespace patchlm {

// Standard Gumbel noise of `shape` on the generator's device. U is kept inside [tiny, 1 − 2⁻²⁴] so that both
// logarithms stay finite.
at::Tensor gumbel_noise(at::IntArrayRef shape, at::Generator generator, const at::TensorOptions& options);

// softmax((logits + noise) / tau) over the last dimension.
at::Tensor gumbel_softmax(const at::Tensor& logits, const at::Tensor& noise, double tau);

}  // namespace patchlm
