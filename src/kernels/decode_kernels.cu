// The fused kernels of a decode step — see kernels/decode_kernels.h. Each is memory-bound and small; what they save
// is launches and round trips of the residual stream, not arithmetic. Those a projection follows (the norms, decode
// attention, the gated activation) let it start early over a few rows (decode steps): the GEMM kernels are dependent
// launches that stream their first weight tile while these finish, and wait for them before reading x
// (kernels/dependent_launch.h).
#include "kernels/decode_kernels.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/dependent_launch.h"

namespace patchlm::kernels {
namespace {

using bf16 = __nv_bfloat16;

__device__ __forceinline__ float f32(bf16 x) { return __bfloat162float(x); }
__device__ __forceinline__ bf16 b16(float x) { return __float2bfloat16_rn(x); }
__device__ __forceinline__ float rounded(float x) { return __bfloat162float(__float2bfloat16_rn(x)); }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// The sum of every thread's `v` over a CTA of kThreads threads, returned to all of them.
template <int kThreads>
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float partial[kThreads / 32];
  v = warp_sum(v);
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = v;
  __syncthreads();
  float total = 0.f;
#pragma unroll
  for (int i = 0; i < kThreads / 32; ++i) total += partial[i];
  return total;
}

std::string launched() {
  const cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? std::string() : std::string(cudaGetErrorString(e));
}

// Whether a kernel over `rows` rows lets the projection after it start early (kernels/dependent_launch.h): its first
// weight tile then streams while this kernel finishes. Measured on an H200 (docs/performance.md, step 19), LLaMA-2-7B
// shape, σ = 35 %: decode 1.03-1.07x faster at batch 1 and 1.01-1.05x at 64, but 8192-row prefill passes 2.5 % slower
// (why was not measured); nothing measured between 192 and 8192 rows, so only up to 256.
constexpr int kEarlyStartMaxRows = 256;
bool lets_next_kernel_start_early(std::int64_t rows) { return rows <= kEarlyStartMaxRows; }

// ---- RMSNorm (+ residual add) ------------------------------------------------------------------------------------
constexpr int kNormThreads = 256;

__global__ void __launch_bounds__(kNormThreads) rms_norm_kernel(RmsNormArgs a, bool early) {
  if (early) allow_next_kernel();
  const RowLayout L = a.layout;
  const int r = blockIdx.x;
  const std::int64_t offset = static_cast<std::int64_t>(r / L.groups) * L.outer_stride +
                              static_cast<std::int64_t>(r % L.groups) * L.cols;
  auto* h = reinterpret_cast<__nv_bfloat162*>(static_cast<bf16*>(a.h) + offset);
  auto* y = reinterpret_cast<__nv_bfloat162*>(static_cast<bf16*>(a.y) + offset);
  const auto* add = a.add ? reinterpret_cast<const __nv_bfloat162*>(static_cast<const bf16*>(a.add) +
                                                                     static_cast<std::int64_t>(r) * L.cols)
                          : nullptr;
  const auto* w = reinterpret_cast<const __nv_bfloat162*>(a.weight);
  const int pairs = L.cols / 2;
  float sum = 0.f;
  for (int i = threadIdx.x; i < pairs; i += kNormThreads) {
    float2 v = __bfloat1622float2(h[i]);
    if (add) {  // the residual stream is kept in bf16: round the sum before it is normed
      const float2 d = __bfloat1622float2(add[i]);
      v = make_float2(rounded(v.x + d.x), rounded(v.y + d.y));
      h[i] = __floats2bfloat162_rn(v.x, v.y);
    }
    sum += v.x * v.x + v.y * v.y;
  }
  const float total = block_sum<kNormThreads>(sum);
  const float inv = rsqrtf(total / static_cast<float>(L.cols) + a.eps);
  for (int i = threadIdx.x; i < pairs; i += kNormThreads) {
    const float2 v = __bfloat1622float2(h[i]);
    const float2 g = __bfloat1622float2(w[i]);
    float2 o;
    if (a.plus_one) {
      o = make_float2(v.x * inv * (1.f + g.x), v.y * inv * (1.f + g.y));
    } else {  // HF: weight · normed.to(dtype), a bf16 product
      o = make_float2(g.x * rounded(v.x * inv), g.y * rounded(v.y * inv));
    }
    y[i] = __floats2bfloat162_rn(o.x, o.y);
  }
}

// Rows up to 8192 wide in one pass: each thread keeps its (up to 4) chunks of 8 in registers, so the row is read once.
constexpr int kWideThreads = 256, kWideChunks = 4;

__global__ void __launch_bounds__(kWideThreads) rms_norm_wide_kernel(RmsNormArgs a, bool early) {
  if (early) allow_next_kernel();
  const RowLayout L = a.layout;
  const int r = blockIdx.x;
  const std::int64_t offset = static_cast<std::int64_t>(r / L.groups) * L.outer_stride +
                              static_cast<std::int64_t>(r % L.groups) * L.cols;
  bf16* h = static_cast<bf16*>(a.h) + offset;
  bf16* y = static_cast<bf16*>(a.y) + offset;
  const bf16* add = a.add ? static_cast<const bf16*>(a.add) + static_cast<std::int64_t>(r) * L.cols : nullptr;
  const bf16* w = static_cast<const bf16*>(a.weight);
  float v[kWideChunks][8];
  float sum = 0.f;
#pragma unroll
  for (int c = 0; c < kWideChunks; ++c) {
    const int i = (c * kWideThreads + threadIdx.x) * 8;
    if (i >= L.cols) break;
    uint4 raw = *reinterpret_cast<const uint4*>(h + i);
    const bf16* x = reinterpret_cast<const bf16*>(&raw);
    if (add) {
      const uint4 raw_add = *reinterpret_cast<const uint4*>(add + i);
      const bf16* d = reinterpret_cast<const bf16*>(&raw_add);
      uint4 out;
      bf16* o = reinterpret_cast<bf16*>(&out);
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        v[c][e] = rounded(f32(x[e]) + f32(d[e]));
        o[e] = b16(v[c][e]);
      }
      *reinterpret_cast<uint4*>(h + i) = out;
    } else {
#pragma unroll
      for (int e = 0; e < 8; ++e) v[c][e] = f32(x[e]);
    }
#pragma unroll
    for (int e = 0; e < 8; ++e) sum += v[c][e] * v[c][e];
  }
  const float total = block_sum<kWideThreads>(sum);
  const float inv = rsqrtf(total / static_cast<float>(L.cols) + a.eps);
#pragma unroll
  for (int c = 0; c < kWideChunks; ++c) {
    const int i = (c * kWideThreads + threadIdx.x) * 8;
    if (i >= L.cols) break;
    const uint4 raw_w = *reinterpret_cast<const uint4*>(w + i);
    const bf16* g = reinterpret_cast<const bf16*>(&raw_w);
    uint4 out;
    bf16* o = reinterpret_cast<bf16*>(&out);
#pragma unroll
    for (int e = 0; e < 8; ++e)
      o[e] = b16(a.plus_one ? v[c][e] * inv * (1.f + f32(g[e])) : f32(g[e]) * rounded(v[c][e] * inv));
    *reinterpret_cast<uint4*>(y + i) = out;
  }
}

// Short rows (q/k head norms, ≤ 256 wide): one warp per row.
constexpr int kShortWarps = 4;

__global__ void __launch_bounds__(32 * kShortWarps) rms_norm_short_kernel(RmsNormArgs a, bool early) {
  if (early) allow_next_kernel();
  const RowLayout L = a.layout;
  const int r = blockIdx.x * kShortWarps + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (r >= L.rows) return;
  const std::int64_t offset = static_cast<std::int64_t>(r / L.groups) * L.outer_stride +
                              static_cast<std::int64_t>(r % L.groups) * L.cols;
  bf16* h = static_cast<bf16*>(a.h) + offset;
  bf16* y = static_cast<bf16*>(a.y) + offset;
  const bf16* add = a.add ? static_cast<const bf16*>(a.add) + static_cast<std::int64_t>(r) * L.cols : nullptr;
  const bf16* w = static_cast<const bf16*>(a.weight);
  float v[8];
  float sum = 0.f;
#pragma unroll
  for (int k = 0; k < 8; ++k) {
    const int i = k * 32 + lane;
    v[k] = 0.f;
    if (i >= L.cols) continue;
    v[k] = f32(h[i]);
    if (add) {
      v[k] = rounded(v[k] + f32(add[i]));
      h[i] = b16(v[k]);
    }
    sum += v[k] * v[k];
  }
  const float inv = rsqrtf(warp_sum(sum) / static_cast<float>(L.cols) + a.eps);
#pragma unroll
  for (int k = 0; k < 8; ++k) {
    const int i = k * 32 + lane;
    if (i >= L.cols) continue;
    const float g = f32(w[i]);
    y[i] = b16(a.plus_one ? v[k] * inv * (1.f + g) : g * rounded(v[k] * inv));
  }
}

// ---- RoPE + KV-cache write ---------------------------------------------------------------------------------------
constexpr int kRopeWarps = 4;

__global__ void __launch_bounds__(32 * kRopeWarps) rope_cache_kernel(RopeCacheArgs a) {
  const int row = blockIdx.x, lane = threadIdx.x % 32, warp = blockIdx.y * kRopeWarps + threadIdx.x / 32;
  const int H = a.heads, KV = a.kv_heads, D = a.head_dim, half = D / 2;
  const std::int64_t pos = a.positions[row], slot = a.slots[row];
  bf16* base = static_cast<bf16*>(a.qkv) + static_cast<std::int64_t>(row) * (H + 2 * KV) * D;
  const float* c = a.cos + pos * D;
  const float* s = a.sin + pos * D;
  for (int head = warp; head < H + 2 * KV; head += kRopeWarps * gridDim.y) {
    bf16* x = base + static_cast<std::int64_t>(head) * D;
    if (head >= H + KV) {  // v: copied into its cache
      const int kv = head - H - KV;
      bf16* dst = static_cast<bf16*>(a.v_cache) + ((slot * KV + kv) * a.cache_len + pos) * D;
      for (int i = lane; i < D; i += 32) dst[i] = x[i];
      continue;
    }
    // q and k rotated in place; k also into its cache (a prefill's attention reads the prompt's keys from qkv).
    bf16* cached = head < H ? nullptr : static_cast<bf16*>(a.k_cache) + ((slot * KV + (head - H)) * a.cache_len + pos) * D;
    for (int i = lane; i < half; i += 32) {  // HF's layout: x·cos + rotate_half(x)·sin, rotate_half(x) = [−x2, x1]
      const float x1 = f32(x[i]), x2 = f32(x[i + half]);
      const bf16 o1 = b16(x1 * c[i] - x2 * s[i]);
      const bf16 o2 = b16(x2 * c[i + half] + x1 * s[i + half]);
      x[i] = o1;
      x[i + half] = o2;
      if (cached != nullptr) cached[i] = o1, cached[i + half] = o2;
    }
  }
}

// ---- Decode attention --------------------------------------------------------------------------------------------
constexpr int kAttentionWarps = 16;  // many warps per (sequence, head): at batch 1 there are only `heads` CTAs
constexpr int kKeysPerStep = 8;  // keys a warp loads before it reduces their dot products: overlapped loads

template <int D>
__global__ void __launch_bounds__(32 * kAttentionWarps) decode_attention_kernel(DecodeAttentionArgs a, bool early) {
  if (early) allow_next_kernel();
  constexpr int E = D / 32;  // elements per lane
  const int h = blockIdx.x, b = blockIdx.y, lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int H = a.heads, KV = a.kv_heads;
  const int kv = h / (H / KV);
  const std::int64_t len = a.positions[b] + 1;
  const std::int64_t first = a.window > 0 && len > a.window ? len - a.window : 0;
  const bf16* q_row = static_cast<const bf16*>(a.qkv) + static_cast<std::int64_t>(b) * (H + 2 * KV) * D + h * D;
  float q[E];
#pragma unroll
  for (int e = 0; e < E; ++e) q[e] = f32(q_row[lane * E + e]) * a.scale;
  const std::int64_t cache_row = (a.slots[b] * KV + kv) * a.cache_len;
  const bf16* keys = static_cast<const bf16*>(a.k_cache) + cache_row * D + lane * E;
  const bf16* values = static_cast<const bf16*>(a.v_cache) + cache_row * D + lane * E;

  float m = -INFINITY, l = 0.f, acc[E];
#pragma unroll
  for (int e = 0; e < E; ++e) acc[e] = 0.f;
  for (std::int64_t j0 = first + warp * kKeysPerStep; j0 < len; j0 += kAttentionWarps * kKeysPerStep) {
    float k[kKeysPerStep][E], v[kKeysPerStep][E], dot[kKeysPerStep];
#pragma unroll
    for (int u = 0; u < kKeysPerStep; ++u) {
      const bool real = j0 + u < len;
#pragma unroll
      for (int e = 0; e < E; ++e) {
        k[u][e] = real ? f32(keys[(j0 + u) * D + e]) : 0.f;
        v[u][e] = real ? f32(values[(j0 + u) * D + e]) : 0.f;
      }
    }
#pragma unroll
    for (int u = 0; u < kKeysPerStep; ++u) {
      dot[u] = 0.f;
#pragma unroll
      for (int e = 0; e < E; ++e) dot[u] += q[e] * k[u][e];
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
#pragma unroll
      for (int u = 0; u < kKeysPerStep; ++u) dot[u] += __shfl_xor_sync(0xffffffffu, dot[u], o);
#pragma unroll
    for (int u = 0; u < kKeysPerStep; ++u) {
      if (j0 + u >= len) break;
      const float m_new = fmaxf(m, dot[u]);
      const float correction = __expf(m - m_new), p = __expf(dot[u] - m_new);
      l = l * correction + p;
#pragma unroll
      for (int e = 0; e < E; ++e) acc[e] = acc[e] * correction + p * v[u][e];
      m = m_new;
    }
  }
  // Combine the warps' partial softmaxes.
  __shared__ float warp_m[kAttentionWarps], warp_l[kAttentionWarps], warp_acc[kAttentionWarps][D];
  if (lane == 0) {
    warp_m[warp] = m;
    warp_l[warp] = l;
  }
#pragma unroll
  for (int e = 0; e < E; ++e) warp_acc[warp][lane * E + e] = acc[e];
  __syncthreads();
  float top = -INFINITY;
#pragma unroll
  for (int w = 0; w < kAttentionWarps; ++w) top = fmaxf(top, warp_m[w]);
  float weight[kAttentionWarps], total = 0.f;
#pragma unroll
  for (int w = 0; w < kAttentionWarps; ++w) {
    weight[w] = warp_l[w] > 0.f ? __expf(warp_m[w] - top) : 0.f;
    total += warp_l[w] * weight[w];
  }
  bf16* out = static_cast<bf16*>(a.out) + static_cast<std::int64_t>(b) * H * D + h * D;
  for (int t = threadIdx.x; t < D; t += 32 * kAttentionWarps) {
    float o = 0.f;
#pragma unroll
    for (int w = 0; w < kAttentionWarps; ++w) o += warp_acc[w][t] * weight[w];
    out[t] = b16(o / total);
  }
}

// ---- Gated activation --------------------------------------------------------------------------------------------
constexpr int kActThreads = 256;

__global__ void __launch_bounds__(kActThreads) gated_activation_kernel(const bf16* gate_up, bf16* out, int inter, bool gelu, bool early) {
  if (early) allow_next_kernel();
  const int row = blockIdx.y;
  const int i = blockIdx.x * kActThreads + threadIdx.x;
  if (i >= inter) return;
  const bf16* g_row = gate_up + static_cast<std::int64_t>(row) * 2 * inter;
  const float g = f32(g_row[i]), u = f32(g_row[inter + i]);
  float act;
  if (gelu) {
    act = 0.5f * g * (1.f + tanhf(0.7978845608028654f * (g + 0.044715f * g * g * g)));
  } else {
    act = g / (1.f + __expf(-g));
  }
  out[static_cast<std::int64_t>(row) * inter + i] = b16(rounded(act) * u);  // act(gate) in bf16, times up
}

}  // namespace

std::string rms_norm(const RmsNormArgs& a, void* stream) {
  if (a.layout.rows == 0) return {};
  if (a.layout.cols % 2 != 0) return "rms_norm: odd row length";
  auto s = static_cast<cudaStream_t>(stream);
  const bool early = lets_next_kernel_start_early(a.layout.rows);
  const bool aligned = a.layout.cols % 8 == 0 && a.layout.outer_stride % 8 == 0 &&
                       reinterpret_cast<std::uintptr_t>(a.h) % 16 == 0 && reinterpret_cast<std::uintptr_t>(a.y) % 16 == 0 &&
                       reinterpret_cast<std::uintptr_t>(a.weight) % 16 == 0 &&
                       reinterpret_cast<std::uintptr_t>(a.add) % 16 == 0;
  if (a.layout.cols <= 256) {
    rms_norm_short_kernel<<<(a.layout.rows + kShortWarps - 1) / kShortWarps, 32 * kShortWarps, 0, s>>>(a, early);
  } else if (aligned && a.layout.cols <= 8 * kWideThreads * kWideChunks) {
    rms_norm_wide_kernel<<<a.layout.rows, kWideThreads, 0, s>>>(a, early);
  } else {
    rms_norm_kernel<<<a.layout.rows, kNormThreads, 0, s>>>(a, early);
  }
  return launched();
}

std::string rope_and_cache(const RopeCacheArgs& a, void* stream) {
  if (a.n == 0) return {};
  if (a.head_dim % 2 != 0) return "rope: odd head_dim";
  // One warp per head of every row: a decode step of one sequence still spreads over (H + 2·KVH) / 4 CTAs.
  const dim3 grid(a.n, (a.heads + 2 * a.kv_heads + kRopeWarps - 1) / kRopeWarps);
  rope_cache_kernel<<<grid, 32 * kRopeWarps, 0, static_cast<cudaStream_t>(stream)>>>(a);
  return launched();
}

bool decode_attention_supported(int head_dim) { return head_dim == 64 || head_dim == 128 || head_dim == 256; }

std::string decode_attention(const DecodeAttentionArgs& a, void* stream) {
  if (a.batch == 0) return {};
  if (a.kv_heads <= 0 || a.heads % a.kv_heads != 0) return "decode_attention: heads must be a multiple of kv_heads";
  const dim3 grid(a.heads, a.batch);
  auto s = static_cast<cudaStream_t>(stream);
  const bool early = lets_next_kernel_start_early(a.batch);
  switch (a.head_dim) {
    case 64: decode_attention_kernel<64><<<grid, 32 * kAttentionWarps, 0, s>>>(a, early); break;
    case 128: decode_attention_kernel<128><<<grid, 32 * kAttentionWarps, 0, s>>>(a, early); break;
    case 256: decode_attention_kernel<256><<<grid, 32 * kAttentionWarps, 0, s>>>(a, early); break;
    default: return "decode_attention: head_dim must be 64, 128 or 256";
  }
  return launched();
}

std::string gated_activation(const void* gate_up, void* out, int n, int inter, bool gelu, void* stream) {
  if (n == 0) return {};
  const dim3 grid((inter + kActThreads - 1) / kActThreads, n);
  gated_activation_kernel<<<grid, kActThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      static_cast<const bf16*>(gate_up), static_cast<bf16*>(out), inter, gelu, lets_next_kernel_start_early(n));
  return launched();
}

}  // namespace patchlm::kernels
