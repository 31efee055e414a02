#pragma once
// Counter-based Gumbel noise: the noise of element i of a stream is a pure function of (stream, i), so a fused
// kernel draws it where it needs it, its backward pass draws the same values again instead of storing them, and a
// resumed or re-sharded run sees the same noise without any generator state. A stream is keyed by
// (seed, step, micro-batch, layer, part) — see gumbel.h.
//   bits(stream, k) = SplitMix64 output of the state stream + (k + 1)·γ (SplitMix64 jumped to position k);
//   element i uses the low (even i) or high (odd i) 32 bits of bits(stream, ⌊i/2⌋);
//   U = (top 23 of those bits + ½) / 2²³ ∈ [2⁻²⁴, 1 − 2⁻²⁴], never 0 or 1, so g = −log(−log U) is always finite —
//   and exact in fp32 as well as fp64 (with 24 bits, k + ½ would round to 2²⁴ in fp32 and give U = 1).
// Header-only and torch-free so that CPU and CUDA kernels share it.
#include <cmath>
#include <cstdint>

#include "util/host_device.h"

namespace patchlm {

inline constexpr std::uint64_t kGoldenGamma = 0x9e3779b97f4a7c15ull;

// SplitMix64's output function (Stafford's variant 13).
PATCHLM_HOST_DEVICE_INLINE std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

PATCHLM_HOST_DEVICE_INLINE std::uint64_t counter_bits(std::uint64_t stream, std::uint64_t k) {
  return mix64(stream + (k + 1) * kGoldenGamma);
}

// The uniform of element i from the 64 bits of its pair (bits = counter_bits(stream, i / 2)).
template <typename T>
PATCHLM_HOST_DEVICE_INLINE T counter_uniform_from_pair(std::uint64_t bits, std::uint64_t i) {
  const auto word = static_cast<std::uint32_t>((i & 1) ? bits >> 32 : bits);
  return (static_cast<T>(word >> 9) + T(0.5)) * T(1.0 / 8388608.0);
}

template <typename T>
PATCHLM_HOST_DEVICE_INLINE T gumbel_from_uniform(T u) {
  using std::log;
  return -log(-log(u));
}

template <typename T>
PATCHLM_HOST_DEVICE_INLINE T counter_gumbel(std::uint64_t stream, std::uint64_t i) {
  return gumbel_from_uniform(counter_uniform_from_pair<T>(counter_bits(stream, i >> 1), i));
}

// The stream of part `part` (0: 2:4 logits, 1: tile logits) of masked layer `layer` under a micro-batch's key
// (gumbel.h: noise_key, noise_stream); here so that a kernel drawing many layers' noise derives each stream itself.
PATCHLM_HOST_DEVICE_INLINE std::uint64_t layer_noise_stream(std::uint64_t key, std::uint64_t layer, std::uint64_t part) {
  return mix64(key ^ mix64((layer * 2 + part + 1) * kGoldenGamma));
}

}  // namespace patchlm
