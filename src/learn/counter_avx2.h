#pragma once
// gumbel_counter.h's counter generator on 4 lanes of AVX2, for the vectorised CPU kernels (fused_mask_avx2.cpp,
// logit_adamw_avx2.cpp). Include only from files compiled with -mavx2.
#include <immintrin.h>

#include <cstdint>

#include "learn/gumbel_counter.h"

namespace patchlm::avx2 {

// The low 64 bits of a·c on 4 lanes. AVX2 has no 64-bit multiply: lo·lo + ((hi·lo + lo·hi) << 32) wraps exactly
// as the scalar multiply does.
inline __m256i mul64_by(__m256i a, std::uint64_t c) {
  const __m256i lo = _mm256_set1_epi64x(static_cast<long long>(c & 0xffffffffu));
  const __m256i hi = _mm256_set1_epi64x(static_cast<long long>(c >> 32));
  const __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(a, 32), lo), _mm256_mul_epu32(a, hi));
  return _mm256_add_epi64(_mm256_mul_epu32(a, lo), _mm256_slli_epi64(cross, 32));
}

// mix64 (SplitMix64's output function) on 4 lanes.
inline __m256i mix64_x4(__m256i z) {
  z = mul64_by(_mm256_xor_si256(z, _mm256_srli_epi64(z, 30)), 0xbf58476d1ce4e5b9ull);
  z = mul64_by(_mm256_xor_si256(z, _mm256_srli_epi64(z, 27)), 0x94d049bb133111ebull);
  return _mm256_xor_si256(z, _mm256_srli_epi64(z, 31));
}

// The inputs of counter_bits(stream, k … k + 3): stream + (k + 1)·γ, one multiply for the base, additions for the
// lanes; the next 4 counters are this + counter_step().
inline __m256i counter_inputs(std::uint64_t stream, std::uint64_t k) {
  return _mm256_add_epi64(_mm256_set1_epi64x(static_cast<long long>(stream + (k + 1) * kGoldenGamma)),
                          _mm256_set_epi64x(static_cast<long long>(3 * kGoldenGamma),
                                            static_cast<long long>(2 * kGoldenGamma),
                                            static_cast<long long>(kGoldenGamma), 0));
}

inline __m256i counter_step() { return _mm256_set1_epi64x(static_cast<long long>(4 * kGoldenGamma)); }

}  // namespace patchlm::avx2
