// logit_adamw's CPU update on 8 elements per instruction (AVX2 + FMA flags, -ffp-contract=off: CMake sets them).
// The arithmetic is logit_adamw_element.h's, operation for operation and unfused, so a vector lane computes the
// same bits as the scalar update (which also serves the tails): a checkpoint resumed on a CPU without AVX2, or a
// sharded run whose slices end elsewhere, rounds every element exactly as the whole did. The stochastic-rounding
// bits come from the counter generator 4 at a time (counter_avx2.h).
#include <immintrin.h>

#include "learn/counter_avx2.h"
#include "learn/logit_adamw_element.h"
#include "learn/logit_adamw_kernels.h"

namespace patchlm {
namespace {

__m256 load8(const float* p) { return _mm256_loadu_ps(p); }
__m256 load8(const std::uint16_t* p) {
  const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

void store8(float* p, __m256 v, __m256i) { _mm256_storeu_ps(p, v); }
// bf16 with stochastic rounding by the low 16 bits of each lane of r (logit_adamw_element.h's store).
void store8(std::uint16_t* p, __m256 v, __m256i r) {
  const __m256i rounded = _mm256_srli_epi32(
      _mm256_add_epi32(_mm256_castps_si256(v), _mm256_and_si256(r, _mm256_set1_epi32(0xffff))), 16);
  // Lanes hold values < 2¹⁶, so the saturating pack is exact; it interleaves the 128-bit halves, the permute
  // puts elements 0-3 and 4-7 back in order.
  const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(rounded, rounded), 0b1000);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_castsi256_si128(packed));
}

// counter_bits(stream, first … first + 7) as the low and high 32 bits of each element's draw, in element order.
void rounding_bits(std::uint64_t stream, std::uint64_t first, __m256i& lo, __m256i& hi) {
  const __m256i z = avx2::counter_inputs(stream, first);
  const __m256i even_odd = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
  const __m256i a = _mm256_permutevar8x32_epi32(avx2::mix64_x4(z), even_odd);  // lo 0-3 | hi 0-3
  const __m256i b = _mm256_permutevar8x32_epi32(avx2::mix64_x4(_mm256_add_epi64(z, avx2::counter_step())), even_odd);
  lo = _mm256_permute2x128_si256(a, b, 0x20);
  hi = _mm256_permute2x128_si256(a, b, 0x31);
}

// Elements [i, i + 8); false if a gradient element is not finite (those lanes keep their values).
template <typename P, typename S>
bool update8(P* param, S* exp_avg, S* exp_avg_sq, const float* grad, std::int64_t i, const adamw::StepScalars& s) {
  const __m256 g = _mm256_loadu_ps(grad + i);
  const __m256 finite = _mm256_cmp_ps(_mm256_sub_ps(g, g), _mm256_setzero_ps(), _CMP_EQ_OQ);
  const __m256 p0 = load8(param + i), m0 = load8(exp_avg + i), v0 = load8(exp_avg_sq + i);
  auto k = [](float x) { return _mm256_set1_ps(x); };
  const __m256 p = _mm256_mul_ps(p0, k(s.decay));
  const __m256 m = _mm256_add_ps(_mm256_mul_ps(k(s.beta1), m0), _mm256_mul_ps(k(s.one_minus_beta1), g));
  const __m256 v = _mm256_add_ps(_mm256_mul_ps(k(s.beta2), v0), _mm256_mul_ps(_mm256_mul_ps(k(s.one_minus_beta2), g), g));
  const __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(v), k(s.sqrt_bias2)), k(s.eps));
  const __m256 p1 = _mm256_sub_ps(p, _mm256_div_ps(_mm256_mul_ps(k(s.step_size), m), denom));
  __m256i lo, hi;
  rounding_bits(s.stream, s.element_offset + static_cast<std::uint64_t>(i), lo, hi);
  // A non-finite lane stores its old value: exact for fp32, and a bf16 value has no dropped bits to round up.
  store8(param + i, _mm256_blendv_ps(p0, p1, finite), lo);
  store8(exp_avg + i, _mm256_blendv_ps(m0, m, finite), _mm256_srli_epi32(lo, 16));
  store8(exp_avg_sq + i, _mm256_blendv_ps(v0, v, finite), hi);
  return _mm256_movemask_ps(finite) == 0xff;
}

template <typename P, typename S>
bool update_range(const AdamWLaunch& k, std::int64_t begin, std::int64_t end) {
  auto* p = static_cast<P*>(k.param);
  auto* m = static_cast<S*>(k.exp_avg);
  auto* v = static_cast<S*>(k.exp_avg_sq);
  bool ok = true;
  std::int64_t i = begin;
  for (; i + 8 <= end; i += 8) ok &= update8(p, m, v, k.grad, i, k.scalars);
  for (; i < end; ++i) ok &= adamw::update(p, m, v, k.grad[i], i, k.scalars);
  return ok;
}

}  // namespace

bool logit_adamw_avx2_available() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}

bool logit_adamw_avx2(const AdamWLaunch& k, std::int64_t begin, std::int64_t end) {
  bool ok = true;
  adamw::by_storage_types(k.param_bf16, k.state_bf16,
                          [&]<typename P, typename S>() { ok = update_range<P, S>(k, begin, end); });
  return ok;
}

}  // namespace patchlm
