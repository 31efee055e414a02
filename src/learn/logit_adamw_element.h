#pragma once
// One element of AdamW (Loshchilov & Hutter; the update of torch.optim.AdamW) on a mask logit, shared by the CPU and
// CUDA kernels of logit_adamw. Logits and moments are stored as fp32 or as bf16 bits (uint16_t); all math is fp32;
// a bf16 store rounds stochastically (Gupta et al. 2015): the fp32 value's 16 dropped bits are compared with 16
// random bits from the counter generator (gumbel_counter.h), so the rounding is unbiased — tiny late updates of a
// cosine schedule survive on average instead of rounding away — and a function of (stream, element), which keeps a
// resumed run bit-identical.
//   p ← p·(1 − lr·wd);  m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²;
//   p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)
// A non-finite gradient element leaves its logit and moments untouched and is reported.
#include <cstdint>
#include <cstring>

#include "learn/gumbel_counter.h"
#include "util/host_device.h"

namespace patchlm::adamw {

struct StepScalars {
  float decay = 1;              // 1 − lr·wd
  float beta1 = 0.9f, beta2 = 0.95f, one_minus_beta1 = 0.1f, one_minus_beta2 = 0.05f;
  float step_size = 0;          // lr / (1 − β1ᵗ)
  float sqrt_bias2 = 1;         // √(1 − β2ᵗ)
  float eps = 1e-8f;
  std::uint64_t stream = 0;     // rounding bits of this tensor at this step
  std::uint64_t element_offset = 0;  // global index of the tensor's first element (a shard of a larger tensor)
};

PATCHLM_HOST_DEVICE_INLINE float load(const float* p, std::int64_t i) { return p[i]; }
PATCHLM_HOST_DEVICE_INLINE float load(const std::uint16_t* p, std::int64_t i) {
  const std::uint32_t bits = static_cast<std::uint32_t>(p[i]) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

PATCHLM_HOST_DEVICE_INLINE void store(float* p, std::int64_t i, float v, std::uint32_t) { p[i] = v; }
// bf16 with stochastic rounding by the 16 random bits `r`.
PATCHLM_HOST_DEVICE_INLINE void store(std::uint16_t* p, std::int64_t i, float v, std::uint32_t r) {
  std::uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  // Adding r ∈ [0, 2¹⁶) carries into the kept half with probability (dropped bits) / 2¹⁶; fine for finite values
  // (the largest finite floats could carry into inf — logits and moments are nowhere near).
  p[i] = static_cast<std::uint16_t>((bits + (r & 0xffffu)) >> 16);
}

PATCHLM_HOST_DEVICE_INLINE bool finite(float g) { return g - g == 0.f; }  // false for inf and NaN

// Element `element` of the tensor, stored at [at] of the three arrays (the CUDA kernel updates registers holding
// 8 consecutive elements). Returns false (and changes nothing) when g is not finite.
template <typename P, typename S>
PATCHLM_HOST_DEVICE_INLINE bool update_at(P* param, S* exp_avg, S* exp_avg_sq, std::int64_t at, std::int64_t element, float g,
                                   const StepScalars& s) {
  using std::sqrt;
  if (!finite(g)) return false;
  const std::int64_t i = at;
  float p = load(param, i), m = load(exp_avg, i), v = load(exp_avg_sq, i);
  p *= s.decay;
  m = s.beta1 * m + s.one_minus_beta1 * g;
  v = s.beta2 * v + s.one_minus_beta2 * g * g;
  p -= s.step_size * m / (sqrt(v) / s.sqrt_bias2 + s.eps);
  // One 64-bit draw per element covers the three roundings (16 bits each).
  const std::uint64_t r = counter_bits(s.stream, s.element_offset + static_cast<std::uint64_t>(element));
  store(param, i, p, static_cast<std::uint32_t>(r));
  store(exp_avg, i, m, static_cast<std::uint32_t>(r >> 16));
  store(exp_avg_sq, i, v, static_cast<std::uint32_t>(r >> 32));
  return true;
}

template <typename P, typename S>
PATCHLM_HOST_DEVICE_INLINE bool update(P* param, S* exp_avg, S* exp_avg_sq, float g, std::int64_t i, const StepScalars& s) {
  return update_at(param, exp_avg, exp_avg_sq, i, i, g, s);
}

// Calls f.template operator()<P, S>() with the storage types of a parameter (fp32 or bf16 bits) and of its moments:
// the one dispatch of the CPU loop and the CUDA launch.
template <typename F>
void by_storage_types(bool param_bf16, bool state_bf16, F&& f) {
  if (param_bf16 && state_bf16) f.template operator()<std::uint16_t, std::uint16_t>();
  else if (param_bf16) f.template operator()<std::uint16_t, float>();
  else if (state_bf16) f.template operator()<float, std::uint16_t>();
  else f.template operator()<float, float>();
}

}  // namespace patchlm::adamw
