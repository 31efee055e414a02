#pragma once
// Gumbel-Softmax (Jang et al. 2017): gs(z, τ) = softmax((z + g) / τ), g = −log(−log U), U ~ Uniform(0, 1).
// Training draws g from a counter-based generator (gumbel_counter.h): the noise of a layer in micro-batch `micro` of
// step `step` is a pure function of (seed, step, micro, layer, element), so it does not depend on how micro-batches
// are spread over ranks, on where a run was resumed, or on whether a kernel stores it. Tests pass noise in
// explicitly to fix it.
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "learn/gumbel_counter.h"

namespace patchlm {

// The key of one micro-batch's noise.
std::uint64_t noise_key(std::uint64_t seed, std::int64_t step, std::int64_t micro);
// The stream of one part of one layer under a key: part 0 = the 2:4 logits, part 1 = the tile logits.
enum class NoisePart : std::uint64_t { two_four = 0, tiles = 1 };
std::uint64_t noise_stream(std::uint64_t key, std::size_t layer, NoisePart part);

// The counter-based noise of `stream` as a tensor of `shape` (element i = counter_gumbel(stream, i), row-major), in
// the options' floating dtype (float or double) on the options' device (float on CUDA: drawn there, gumbel.cu).
at::Tensor counter_gumbel_noise(std::uint64_t stream, at::IntArrayRef shape, const at::TensorOptions& options);

// The noise of `part` of layers 0 … L−1 under `key`, back to back in one float tensor: layer s's elements at
// offsets[s] … offsets[s + 1] − 1, each equal to counter_gumbel_noise(noise_stream(key, s, part), ...)'s — the
// per-layer draws concatenated, in one kernel. offsets: L + 1 non-decreasing counts from 0, on the host and (for a
// CUDA device) the same as an int64 tensor on that device, so the draw needs no host-to-device copy.
at::Tensor counter_gumbel_noise_layers(std::uint64_t key, NoisePart part, const std::vector<std::int64_t>& offsets,
                                       const at::Tensor& device_offsets, const at::TensorOptions& options);

// softmax((logits + noise) / tau) over the last dimension.
at::Tensor gumbel_softmax(const at::Tensor& logits, const at::Tensor& noise, double tau);

}  // namespace patchlm
