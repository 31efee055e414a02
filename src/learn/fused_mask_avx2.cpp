// The fused mask op's vectorised CPU kernels (fused_mask_kernels.h). Compiled with AVX2 + FMA (CMake sets the flags
// and ATen's CPU_CAPABILITY=AVX2, so at::vec::Vectorized<float> is 8 lanes with SLEEF's log/exp from libtorch);
// fused_mask.cpp calls them only where the CPU has both. The math is fused_mask_group.h's, rearranged for SIMD:
// a chunk of 64 groups is turned from the logits' [group, candidate] order into [candidate][group] arrays, so every
// step of the Gumbel-Softmax runs 8 groups per instruction; the counter noise is drawn as in gumbel_counter.h, 4
// counters per instruction. The logits are read as stored (fp32 or bf16: no fp32 copy of the bf16 state).
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>
#include <c10/util/BFloat16.h>

#include <sleef.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "learn/counter_avx2.h"
#include "learn/fused_mask_group.h"
#include "learn/fused_mask_kernels.h"

namespace patchlm {
namespace {

using Vec = at::vec::Vectorized<float>;
constexpr int kChunk = 64;  // groups per chunk, a multiple of Vec::size()
static_assert(kChunk % Vec::size() == 0);

struct Chunk {
  alignas(64) float p[6][kChunk];  // candidate probabilities
  alignas(64) float m[4][kChunk];  // the soft 2:4 mask
};

// The noise words of `pairs` consecutive counters from `first` on: words[2k], words[2k + 1] = the low and high 32
// bits of counter_bits(stream, first + k) — so a group's 6 candidates are 6 consecutive words (gumbel_counter.h).
void counter_words(std::uint64_t stream, std::uint64_t first, int pairs, std::uint32_t* words) {
  __m256i z = avx2::counter_inputs(stream, first);
  for (int k = 0; k < pairs; k += 4, z = _mm256_add_epi64(z, avx2::counter_step()))
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(words + 2 * k), avx2::mix64_x4(z));
}

// U = (top 23 bits + ½)·2⁻²³ of 8 words (counter_uniform_from_pair), exact in fp32.
Vec uniform_x8(const std::uint32_t* words) {
  const __m256i w = _mm256_srli_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(words)), 9);
  return Vec(_mm256_cvtepi32_ps(w)) * Vec(1.f / 8388608.f) + Vec(0.5f / 8388608.f);
}

// The Gumbel noise −log(−log U). SLEEF's 3.5-ULP log: the noise only needs to be a faithful fp32 Gumbel draw, and
// the 1-ULP variant was the op's largest cost.
Vec gumbel_x8(Vec u) {
  const Vec e = Vec(Sleef_logf8_u35avx2(u)).neg();
  return Vec(Sleef_logf8_u35avx2(e)).neg();
}

float logit_at(const FusedMaskLaunch& k, std::int64_t i) {
  return k.l24 ? k.l24[i] : static_cast<float>(c10::BFloat16(k.l24_bf16[i], c10::BFloat16::from_bits()));
}

// p and m of the `n` groups from `first` on (learned 2:4 logits, fp32 or bf16).
void soft_chunk(const FusedMaskLaunch& k, std::int64_t first, int n, Chunk& out) {
  alignas(64) std::uint32_t words[6 * kChunk];
  alignas(64) float u[6 * kChunk];  // [group, candidate], as the logits
  alignas(64) float z[6][kChunk];
  counter_words(k.stream, static_cast<std::uint64_t>(first) * 3, 3 * kChunk, words);
  for (int i = 0; i < 6 * kChunk; i += Vec::size()) uniform_x8(words + i).store(u + i);
  for (int g = 0; g < n; ++g) {
    const std::int64_t l = (first + g) * 6;
    for (int c = 0; c < 6; ++c) {
      out.p[c][g] = u[6 * g + c];  // U, turned into p below
      z[c][g] = logit_at(k, l + c);
    }
  }
  for (int g = n; g < kChunk; ++g)
    for (int c = 0; c < 6; ++c) out.p[c][g] = 0.5f, z[c][g] = 0.f;
  const Vec kot(k.kappa_over_tau), it(k.inv_tau);
  for (int g = 0; g < kChunk; g += Vec::size()) {
    Vec zc[6];
    Vec top(-INFINITY);
    for (int c = 0; c < 6; ++c) {
      zc[c] = at::vec::fmadd(Vec::loadu(&z[c][g]), kot, gumbel_x8(Vec::loadu(&out.p[c][g])) * it);
      top = at::vec::maximum(top, zc[c]);
    }
    Vec sum(0.f);
    for (int c = 0; c < 6; ++c) {
      zc[c] = (zc[c] - top).exp();
      sum = sum + zc[c];
    }
    const Vec inv = Vec(1.f) / sum;
    for (int c = 0; c < 6; ++c) (zc[c] * inv).store(&out.p[c][g]);
    (zc[0] * inv + zc[1] * inv + zc[2] * inv).store(&out.m[0][g]);
    (zc[0] * inv + zc[3] * inv + zc[4] * inv).store(&out.m[1][g]);
    (zc[1] * inv + zc[3] * inv + zc[5] * inv).store(&out.m[2][g]);
    (zc[2] * inv + zc[4] * inv + zc[5] * inv).store(&out.m[3][g]);
  }
}

// T of every column of row r (0 without tiles).
void row_tiles(const FusedMaskLaunch& k, std::int64_t r, std::vector<float>& t) {
  t.assign(static_cast<std::size_t>(k.cols), 0.f);
  if (!k.tiles) return;
  const float* trow = k.tiles + (r / k.tile_rows) * k.tiles_per_row;
  float* out = t.data();
  for (std::int64_t c = 0; c < k.tiles_per_row; ++c, out += k.tile_cols) std::fill_n(out, k.tile_cols, trow[c]);
}

// out[i] = W[i]·(t[i] + (1 − t[i])·m[i]) over n contiguous weights (m in weight order: soft floats, or the fixed
// mask's 0/1 bytes): vectorised by the compiler.
template <typename W, typename M>
void mix_and_scale(const W* w, const float* t, const M* m, W* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<W>(static_cast<float>(w[i]) * (t[i] + (1.f - t[i]) * m[i]));
}

template <typename W>
void forward_rows(const FusedMaskLaunch& k, W* out, std::int64_t begin, std::int64_t end) {
  const W* w = static_cast<const W*>(k.weight);
  const std::int64_t groups = k.cols / 4;
  std::vector<float> t;
  Chunk c;
  alignas(64) float m[4 * kChunk];  // the chunk's soft 2:4 mask back in weight order
  for (std::int64_t r = begin; r < end; ++r) {
    row_tiles(k, r, t);
    const std::int64_t row = r * k.cols;
    if (k.fixed) {  // tile mode: the 2:4 mask is given, one pass over the row
      mix_and_scale(w + row, t.data(), k.fixed + row, out + row, k.cols);
      continue;
    }
    for (std::int64_t q0 = 0; q0 < groups; q0 += kChunk) {
      const int n = static_cast<int>(std::min<std::int64_t>(kChunk, groups - q0));
      soft_chunk(k, r * groups + q0, n, c);
      for (int g = 0; g < n; ++g)
        for (int j = 0; j < 4; ++j) m[4 * g + j] = c.m[j][g];
      const std::int64_t col = 4 * q0;
      mix_and_scale(w + row + col, t.data() + col, m, out + row + col, 4 * n);
    }
  }
}

// dL24 of a chunk's n groups (written to dl24 in [group, candidate] order) from dm, the gradient of its soft 2:4
// mask, and its probabilities: fused_mask_group.h's logit_grads, 8 groups per instruction.
void chunk_logit_grads(const FusedMaskLaunch& k, const Chunk& c, float dm[4][kChunk], int n, float* dl24) {
  for (int g = n; g < kChunk; ++g)
    for (int j = 0; j < 4; ++j) dm[j][g] = 0.f;
  alignas(64) float dl[6][kChunk];
  const Vec kot(k.kappa_over_tau);
  for (int g = 0; g < kChunk; g += Vec::size()) {
    const Vec d0 = Vec::loadu(&dm[0][g]), d1 = Vec::loadu(&dm[1][g]), d2 = Vec::loadu(&dm[2][g]),
              d3 = Vec::loadu(&dm[3][g]);
    const Vec dp[6] = {d0 + d1, d0 + d2, d0 + d3, d1 + d2, d1 + d3, d2 + d3};
    Vec p[6], dot(0.f);
    for (int cc = 0; cc < 6; ++cc) {
      p[cc] = Vec::loadu(&c.p[cc][g]);
      dot = at::vec::fmadd(p[cc], dp[cc], dot);
    }
    for (int cc = 0; cc < 6; ++cc) (p[cc] * (dp[cc] - dot) * kot).store(&dl[cc][g]);
  }
  for (int g = 0; g < n; ++g)
    for (int cc = 0; cc < 6; ++cc) dl24[g * 6 + cc] = dl[cc][g];
}

template <typename W>
void backward_rows(const FusedMaskLaunch& k, const W* dout, float* dl24, float* drows, std::int64_t begin,
                   std::int64_t end) {
  const W* w = static_cast<const W*>(k.weight);
  const std::int64_t groups = k.cols / 4;
  const float s = k.norm && *k.norm > 0.f ? *k.norm_grad / *k.norm : 0.f;
  std::vector<float> t, dcol;
  Chunk c;
  alignas(64) float dm[4][kChunk];
  for (std::int64_t r = begin; r < end; ++r) {
    row_tiles(k, r, t);
    if (drows) dcol.resize(static_cast<std::size_t>(k.cols));  // every column is written below
    if (k.fixed) {  // tile mode: only dT, one pass over the row
      const std::int64_t row = r * k.cols;
      const std::uint8_t* f = k.fixed + row;
      if (drows)
        for (std::int64_t i = 0; i < k.cols; ++i) {
          const float wi = static_cast<float>(w[row + i]), fi = static_cast<float>(f[i]);
          const float ti = t[static_cast<std::size_t>(i)];
          dcol[static_cast<std::size_t>(i)] = (static_cast<float>(dout[row + i]) + s * wi * (ti + (1.f - ti) * fi)) * wi * (1.f - fi);
        }
    } else {
      for (std::int64_t q0 = 0; q0 < groups; q0 += kChunk) {
        const int n = static_cast<int>(std::min<std::int64_t>(kChunk, groups - q0));
        const std::int64_t first = r * groups + q0;
        soft_chunk(k, first, n, c);
        for (int g = 0; g < n; ++g) {
          const std::int64_t col = 4 * (q0 + g), base = r * k.cols + col;
          for (int j = 0; j < 4; ++j) {
            const auto cj = static_cast<std::size_t>(col + j);
            const float wj = static_cast<float>(w[base + j]);
            const float dM = (static_cast<float>(dout[base + j]) + s * wj * (t[cj] + (1.f - t[cj]) * c.m[j][g])) * wj;
            if (drows) dcol[cj] = dM * (1.f - c.m[j][g]);
            dm[j][g] = dM * (1.f - t[cj]);
          }
        }
        if (dl24) chunk_logit_grads(k, c, dm, n, dl24 + first * 6);
      }
    }
    if (drows) {
      float* row = drows + r * k.tiles_per_row;
      const float* d = dcol.data();
      for (std::int64_t tc = 0; tc < k.tiles_per_row; ++tc, d += k.tile_cols) row[tc] += std::accumulate(d, d + k.tile_cols, 0.f);
    }
  }
}

template <typename F>
void by_weight_dtype(const FusedMaskLaunch& k, F&& f) {
  if (k.weight_dtype == 1) f(static_cast<c10::BFloat16*>(nullptr));
  else f(static_cast<float*>(nullptr));
}

}  // namespace

bool fused_mask_avx2_available() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}

void fused_mask_forward_avx2(const FusedMaskLaunch& k, void* out) {
  by_weight_dtype(k, [&](auto tag) {
    using W = std::remove_pointer_t<decltype(tag)>;
    at::parallel_for(0, k.rows, 4, [&](std::int64_t b, std::int64_t e) { forward_rows(k, static_cast<W*>(out), b, e); });
  });
}

void fused_mask_backward_avx2(const FusedMaskLaunch& k, const void* dout, float* dl24, float* drows) {
  by_weight_dtype(k, [&](auto tag) {
    using W = std::remove_pointer_t<decltype(tag)>;
    at::parallel_for(0, k.rows, 4, [&](std::int64_t b, std::int64_t e) {
      backward_rows(k, static_cast<const W*>(dout), dl24, drows, b, e);
    });
  });
}

}  // namespace patchlm
