#pragma once
// The per-group math of the fused mask op (fused_mask.h), shared by its CPU and CUDA kernels. One group = 4
// consecutive weights of a row, with 6 logits l (one per 2:4 candidate) and the soft tile choice t of each weight:
//   forward   z_c = l_c·κ/τ + g_c/τ,  p = softmax(z),  m_j = Σ_c p_c·C[c][j],  M_j = t_j + (1 − t_j)·m_j,
//             out_j = W_j·M_j
//   backward  dM_j = dout_j·W_j,  dt_j = dM_j·(1 − m_j),  dm_j = dM_j·(1 − t_j),  dp_c = Σ_j C[c][j]·dm_j,
//             dl_c = p_c·(dp_c − Σ_k p_k·dp_k)·κ/τ
// C is the candidate table of io/mask_file.h (kTwoFourPatterns: 1100, 1010, 1001, 0110, 0101, 0011), written out
// here as sums so device code needs no table; fused_mask.cpp checks at compile time that the two agree.
#include "learn/gumbel_counter.h"
#include "util/host_device.h"

namespace patchlm::fused {

// Candidate c keeps positions kKeepA[c] and kKeepB[c] (what soft_2to4 and logit_grads spell out).
inline constexpr int kKeepA[6] = {0, 0, 0, 1, 1, 2};
inline constexpr int kKeepB[6] = {1, 2, 3, 2, 3, 3};

// p = softmax(l·κ/τ + g/τ) of group `group`, its noise drawn from `stream` (elements 6·group … 6·group + 5).
template <typename T>
PATCHLM_HOST_DEVICE_INLINE void candidate_probs(const T* l, std::uint64_t stream, std::int64_t group, T kappa_over_tau,
                                         T inv_tau, T p[6]) {
  using std::exp;
  const auto first = static_cast<std::uint64_t>(group) * 6;  // even: the group's 6 draws are 3 whole pairs
  T z[6];
  for (int k = 0; k < 3; ++k) {
    const std::uint64_t bits = counter_bits(stream, (first >> 1) + static_cast<std::uint64_t>(k));
    z[2 * k] = l[2 * k] * kappa_over_tau + gumbel_from_uniform(counter_uniform_from_pair<T>(bits, 0)) * inv_tau;
    z[2 * k + 1] = l[2 * k + 1] * kappa_over_tau + gumbel_from_uniform(counter_uniform_from_pair<T>(bits, 1)) * inv_tau;
  }
  T top = z[0];
  for (int c = 1; c < 6; ++c) top = z[c] > top ? z[c] : top;
  T sum = 0;
  for (int c = 0; c < 6; ++c) {
    p[c] = exp(z[c] - top);
    sum += p[c];
  }
  const T inv_sum = T(1) / sum;
  for (int c = 0; c < 6; ++c) p[c] *= inv_sum;
}

// m_j = Σ_c p_c·C[c][j].
template <typename T>
PATCHLM_HOST_DEVICE_INLINE void soft_2to4(const T p[6], T m[4]) {
  m[0] = p[0] + p[1] + p[2];
  m[1] = p[0] + p[3] + p[4];
  m[2] = p[1] + p[3] + p[5];
  m[3] = p[2] + p[4] + p[5];
}

// dl_c from dm (the gradient of the soft 2:4 mask) and p.
template <typename T>
PATCHLM_HOST_DEVICE_INLINE void logit_grads(const T p[6], const T dm[4], T kappa_over_tau, T dl[6]) {
  const T dp[6] = {dm[0] + dm[1], dm[0] + dm[2], dm[0] + dm[3], dm[1] + dm[2], dm[1] + dm[3], dm[2] + dm[3]};
  T dot = 0;
  for (int c = 0; c < 6; ++c) dot += p[c] * dp[c];
  for (int c = 0; c < 6; ++c) dl[c] = p[c] * (dp[c] - dot) * kappa_over_tau;
}

}  // namespace patchlm::fused
