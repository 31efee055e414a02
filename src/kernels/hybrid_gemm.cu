// Hybrid dense / 2:4 tile GEMM for decode — see kernels/hybrid_gemm.h and io/hybrid_layout.h.
//
// Layers, CUTLASS-style, in a warp-specialised CTA (one producer warp, TR/16 consumer warps, no CTA-wide barrier in
// the main loop):
//   producer  — streams the CTA's run of stored tiles (kernels/hybrid_schedule) into a STAGES-deep ring: a weight tile
//               is contiguous in the packed data, so one bulk copy (Hopper's copy engine, bytes counted on the stage's
//               `full` mbarrier; 16-byte cp.async by the warp's lanes on Ampere), and the tile's slice of x by 16-byte
//               cp.async from the 32 lanes, whose completion also arrives on `full`. A stage is refilled as soon as
//               every consumer warp has arrived on its `empty` mbarrier.
//   warp MMA  — consumer warp w owns rows 16w..16w+15 of each tile: per 32 columns one mma.sp.m16n8k32 (2:4 tile) or
//               two mma.m16n8k16 (dense tile) per 8 tokens; A by ldmatrix from shared memory, where tiles arrive in
//               the device layout (docs/format.md "On the GPU": swizzled rows, so conflict-free; a 2:4 tile's kept
//               values so, part by part, each part's metadata words after its values) — and B by ldmatrix from the x
//               slice (token rows padded by 16 bytes: conflict-free; rows beyond the real tokens stay zero).
//   epilogue  — when a warp leaves a row block: rows of a row block the CTA owns alone are written as bf16 directly;
//               a row block shared with other CTAs gets the fp32 partial sums added into a workspace (fire-and-forget
//               vector reductions, real tokens only).
//   finish    — a second small kernel, launched behind the GEMM with programmatic dependent launch, converts the
//               shared rows' sums to bf16 and zeroes the workspace for the next call. (Counting contributors in at the
//               end of the GEMM, and letting the last one convert, put dependent global round trips at the tail of
//               every call: 3–10 µs more per call on an H200, docs/performance.md.)
#include "kernels/hybrid_gemm.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <iterator>

#include "kernels/async_copy.h"
#include "kernels/dense_tile_layout.h"
#include "kernels/dependent_launch.h"
#include "kernels/shared_memory_limit.h"
#include "kernels/sparse_tile_layout.h"

namespace patchlm::kernels {
namespace {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
constexpr bool kHopper = true;  // bulk copies, mbarrier transaction counts, programmatic dependent launch
#else
constexpr bool kHopper = false;
#endif

// Hopper: the copy engine moves a whole tile; the stage's mbarrier expects its bytes.
__device__ __forceinline__ void bulk_copy_expecting(std::uint32_t dst, const void* src, std::uint32_t bytes,
                                                    std::uint32_t bar) {
  mbarrier_arrive_expect(bar, bytes);
  bulk_copy(dst, src, bytes, bar);
}

__device__ __forceinline__ void cp_async16(std::uint32_t dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(dst), "l"(src));
}

// Arrives on `bar` once every cp.async this thread issued so far has landed (the arrival is counted in the init).
__device__ __forceinline__ void cp_async_arrive(std::uint32_t bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared.b64 [%0];" ::"r"(bar) : "memory");
}

// Four 8×8 b16 matrices: lane l gives the address of row l%8 of matrix l/8; register q holds matrix q.
__device__ __forceinline__ void ldmatrix_x4(std::uint32_t address, std::uint32_t (&r)[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}

// A dense tile in the device layout (blocks of 64 rows × 64 columns, 128 bytes per row, 16-byte chunk c of row r at
// c XOR r % 8): this lane's ldmatrix address for warp `warp`'s 16 rows, relative to the tile — row lane % 8 (+8 for
// lanes 8–15 and 24–31, matrices 1 and 3) of the warp's rows; dense_fragment adds the chunk.
template <int TC>
__device__ __forceinline__ std::uint32_t dense_lane_address(int warp, int lane) {
  const int row = 16 * (warp % 4) + (lane & 7) + 8 * ((lane >> 3) & 1);
  return static_cast<std::uint32_t>(dense_panel_offset(warp / 4, 0, TC) + row * kDensePanelRowBytes);
}

// The mma.m16n8k16 A fragment of k16 step `step` (W[g][2t..], W[g+8][2t..], W[g][2t+8..], W[g+8][2t+8..]) by one
// ldmatrix.x4: matrices (rows 0–7 | 8–15) × (columns 0–7 | 8–15) of the step, i.e. chunk 2·(step % 4) + lane / 16 of
// 64-column panel step / 4, swizzled with the row's low bits (= lane % 8).
__device__ __forceinline__ uint4 dense_fragment(std::uint32_t lane_address, int step, int lane) {
  std::uint32_t r[4];
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(lane_address + (step / 4) * kDensePanelBytes + 16 * ((2 * (step % 4) + (lane >> 4)) ^ (lane & 7))));
  return make_uint4(r[0], r[1], r[2], r[3]);
}

// A 2:4 tile in the device layout (kernels/sparse_tile_layout.h): a k32 step j of the tile is k16 step j % 2 of the
// kept values of its part j / 2, whose mma.sp.m16n8k32 A fragment is an mma.m16n8k16 one — matrices (rows 0–7 | 8–15)
// × (kept values 0–7 | 8–15) of the step. This lane's ldmatrix row of warp `warp`'s 16 rows: row lane % 8 (+8 for
// lanes 8–15 and 24–31), chunk 2 · (j % 2) + lane / 16 of it, swizzled.
template <int TR>
struct SparseFragments {
  std::uint32_t row;
  int swizzle;
  __device__ SparseFragments(int warp, int lane) {
    const int r = 16 * warp + (lane & 7) + 8 * ((lane >> 3) & 1);
    row = static_cast<std::uint32_t>(sparse_row_offset(r));
    swizzle = sparse_row_swizzle(r);
  }
  __device__ __forceinline__ uint4 at(std::uint32_t tile, int step, int lane) const {
    std::uint32_t r[4];
    ldmatrix_x4(tile + sparse_part_offset(step / 2, TR) + row + 16 * ((2 * (step % 2) + (lane >> 4)) ^ swizzle), r);
    return make_uint4(r[0], r[1], r[2], r[3]);
  }
};

__device__ __forceinline__ void mma_dense(float (&c)[4], const uint4& a, std::uint32_t b0, std::uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a.x), "r"(a.y), "r"(a.z), "r"(a.w), "r"(b0), "r"(b1));
}

// SELECTOR picks the thread pair of each quad whose metadata register is used (0: threads 0,1; 1: threads 2,3).
template <int SELECTOR>
__device__ __forceinline__ void mma_sparse(float (&c)[4], const uint4& a, const std::uint32_t (&b)[4],
                                           std::uint32_t meta) {
  asm volatile(
      "mma.sp::ordered_metadata.sync.aligned.m16n8k32.row.col.f32.bf16.bf16.f32 "
      "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9,%10,%11}, {%0,%1,%2,%3}, %12, %13;"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a.x), "r"(a.y), "r"(a.z), "r"(a.w), "r"(b[0]), "r"(b[1]), "r"(b[2]), "r"(b[3]), "r"(meta),
        "n"(SELECTOR));
}

__device__ __forceinline__ void add_pair(float* at, float a, float b) {
#if __CUDA_ARCH__ >= 900
  atomicAdd(reinterpret_cast<float2*>(at), make_float2(a, b));
#else
  atomicAdd(at, a);
  atomicAdd(at + 1, b);
#endif
}

// n8 fragments a kernel instance covers for `tokens` (its NF): tokens padded to 8, 16, 32 or 64.
int token_fragments(int tokens) { return tokens <= 8 ? 1 : tokens <= 16 ? 2 : tokens <= 32 ? 4 : 8; }

template <int TR, int TC, int NF>
struct Geometry {
  static constexpr int kConsumers = TR / 16;         // consumer warps; the producer warp comes last
  static constexpr int kThreads = kConsumers * 32 + 32;
  static constexpr int kTokens = NF * 8;             // tokens padded to whole n8 fragments
  static constexpr int kXStride = TC * 2 + 16;       // bytes per token row of the x slice
  static constexpr int kWeightBytes = TR * TC * 2;   // a stage fits the larger (dense) tile
  static constexpr int kStageBytes = kWeightBytes + kTokens * kXStride;
  static constexpr int kMetaWords = TC / 64;         // metadata words per lane per slice: one per 64-column part
};

// Tile descriptors are read 32 at a time, one per lane, and handed round by shuffles.
struct DescriptorBatch {
  uint2 mine = make_uint2(0, 0);
  __device__ uint2 get(const uint2* desc, int first, int last, int i, int lane) {
    const int k = i - first;
    if ((k & 31) == 0 && i + lane < last) mine = __ldg(desc + i + lane);
    return make_uint2(__shfl_sync(0xffffffffu, mine.x, k & 31), __shfl_sync(0xffffffffu, mine.y, k & 31));
  }
};

template <int TR, int TC, int NF, int STAGES>
__global__ void __launch_bounds__(TR / 16 * 32 + 32, 1)
    hybrid_gemm_kernel(HybridGemmPlan p, const __nv_bfloat16* __restrict__ x, __nv_bfloat16* __restrict__ y,
                       int tokens) {
  using G = Geometry<TR, TC, NF>;
  extern __shared__ __align__(128) std::uint8_t smem[];
  __shared__ __align__(8) std::uint64_t full[STAGES], empty[STAGES];

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int first = p.cta_first_tile[blockIdx.x], last = p.cta_first_tile[blockIdx.x + 1];
  if (first >= last) return;
  const int per_row = static_cast<int>(p.cols / TC);
  const std::uint32_t smem0 = shared_address(smem);
  const uint2* desc = reinterpret_cast<const uint2*>(p.tile_desc);
  const bool bulk = kHopper && !p.weights_by_threads;

  // Token rows beyond `tokens` stay zero in every stage; only real rows are copied per tile.
  for (int k = tid; k < STAGES * G::kTokens * G::kXStride / 16; k += G::kThreads) {
    int stage = k / (G::kTokens * G::kXStride / 16), rest = k % (G::kTokens * G::kXStride / 16);
    if (rest * 16 / G::kXStride >= tokens)
      *reinterpret_cast<uint4*>(smem + stage * G::kStageBytes + G::kWeightBytes + rest * 16) = make_uint4(0, 0, 0, 0);
  }
  if (tid == 0) {
    // full: the producer lanes' cp.async arrivals (+ the bulk copy's byte count); empty: one arrival per consumer.
    for (int s = 0; s < STAGES; ++s) {
      mbarrier_init(shared_address(&full[s]), bulk ? 33 : 32);
      mbarrier_init(shared_address(&empty[s]), G::kConsumers);
    }
#if __CUDA_ARCH__ >= 900
    mbarrier_init_fence();
#endif
  }
  __syncthreads();

  if (warp == G::kConsumers) {
    // ---------------- producer ----------------
    auto load_weights = [&](uint2 d, int stage) {
      const std::uint8_t* src = p.data + static_cast<std::size_t>(d.x) * 16;
      const int bytes = (d.y >> 31) ? TR * TC * 9 / 8 : TR * TC * 2;
      const std::uint32_t dst = smem0 + stage * G::kStageBytes;
      if (bulk) {
        if (lane == 0) bulk_copy_expecting(dst, src, bytes, shared_address(&full[stage]));
      } else {
        for (int c = lane; c < bytes / 16; c += 32) cp_async16(dst + c * 16, src + c * 16);
      }
    };
    // The x slice of the tile, then this lane's arrival on the stage (once its copies, weights included, landed).
    auto load_x = [&](uint2 d, int stage) {
      const __nv_bfloat16* xs = x + static_cast<std::size_t>(d.y & 0x7FFFFFFFu) * TC;
      const std::uint32_t xdst = smem0 + stage * G::kStageBytes + G::kWeightBytes;
      for (int c = lane; c < tokens * (TC / 8); c += 32) {
        const int row = c / (TC / 8), chunk = c % (TC / 8);
        cp_async16(xdst + row * G::kXStride + chunk * 16, xs + static_cast<std::size_t>(row) * p.cols + chunk * 8);
      }
      cp_async_arrive(shared_address(&full[stage]));
    };
    DescriptorBatch batch;
    // Weights do not depend on the previous kernel: the ring is primed with weights before waiting for it.
    const int primed = min(STAGES, last - first);
    uint2 prologue[STAGES];
#pragma unroll
    for (int s = 0; s < STAGES; ++s)
      if (s < primed) {
        prologue[s] = batch.get(desc, first, last, first + s, lane);
        load_weights(prologue[s], s);
      }
    allow_next_kernel();
    wait_for_previous_kernel();
#pragma unroll
    for (int s = 0; s < STAGES; ++s)
      if (s < primed) load_x(prologue[s], s);
    for (int i = first + primed; i < last; ++i) {
      const int k = i - first, stage = k % STAGES;
      const uint2 d = batch.get(desc, first, last, i, lane);
      mbarrier_wait(shared_address(&empty[stage]), ((k / STAGES) - 1) & 1);
      load_weights(d, stage);
      load_x(d, stage);
    }
    return;
  }

  // ---------------- consumers ----------------
  allow_next_kernel();
  wait_for_previous_kernel();  // y and the workspace are written below
  const int rb_first = first / per_row, rb_last = (last - 1) / per_row;
  const int shared_first = p.contributors[rb_first], shared_last = p.contributors[rb_last];
  // Only the first and last row block of a contiguous run can be shared with other CTAs.
  auto contributors = [&](int rb) { return rb == rb_first ? shared_first : rb == rb_last ? shared_last : 1; };
  // ldmatrix row address of this lane: token row lane%8 of the fragment, 8-column chunk lane/8 of 32 columns.
  const std::uint32_t xlane = G::kWeightBytes + (lane & 7) * G::kXStride + (lane >> 3) * 16;
  const std::uint32_t dense_lane = dense_lane_address<TC>(warp, lane);
  const SparseFragments<TR> sparse_a(warp, lane);

  float acc[NF][4];
#pragma unroll
  for (int f = 0; f < NF; ++f) acc[f][0] = acc[f][1] = acc[f][2] = acc[f][3] = 0.f;

  auto compute_tile = [&](int stage, bool sparse) {
    const std::uint8_t* weights = smem + stage * G::kStageBytes;
    const std::uint32_t xrow = smem0 + stage * G::kStageBytes + xlane;
    if (sparse) {
      std::uint32_t meta[G::kMetaWords];  // one per 64-column part
#pragma unroll
      for (int w = 0; w < G::kMetaWords; ++w)
        meta[w] = reinterpret_cast<const std::uint32_t*>(weights + sparse_metadata_offset(w, warp, TR))[lane];
#pragma unroll
      for (int j = 0; j < TC / 32; ++j) {
        const uint4 a = sparse_a.at(smem0 + stage * G::kStageBytes, j, lane);
#pragma unroll
        for (int f = 0; f < NF; ++f) {
          std::uint32_t b[4];
          ldmatrix_x4(xrow + f * 8 * G::kXStride + j * 64, b);
          if (j % 2 == 0)
            mma_sparse<0>(acc[f], a, b, meta[j / 2]);
          else
            mma_sparse<1>(acc[f], a, b, meta[j / 2]);
        }
      }
    } else {
      const std::uint32_t tile = smem0 + stage * G::kStageBytes + dense_lane;
#pragma unroll
      for (int j = 0; j < TC / 32; ++j) {
        const uint4 a0 = dense_fragment(tile, 2 * j, lane), a1 = dense_fragment(tile, 2 * j + 1, lane);
#pragma unroll
        for (int f = 0; f < NF; ++f) {
          std::uint32_t b[4];
          ldmatrix_x4(xrow + f * 8 * G::kXStride + j * 64, b);
          mma_dense(acc[f], a0, b[0], b[1]);
          mma_dense(acc[f], a1, b[2], b[3]);
        }
      }
    }
  };

  // Accumulator (f, c): row 16·warp + lane/4 (+8 for c ≥ 2) of the row block, token 8f + 2·(lane%4) + c%2.
  auto flush = [&](int rb) {
    const int row = rb * TR + warp * 16 + lane / 4;
    const int token = 2 * (lane % 4);
    if (contributors(rb) == 1) {
#pragma unroll
      for (int f = 0; f < NF; ++f)
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          int t = 8 * f + token + (c & 1);
          if (t < tokens) y[static_cast<std::size_t>(t) * p.rows + row + 8 * (c >> 1)] = __float2bfloat16(acc[f][c]);
        }
    } else {
#pragma unroll
      for (int f = 0; f < NF; ++f)
        if (8 * f + token < tokens)
#pragma unroll
          for (int h = 0; h < 2; ++h)
            add_pair(p.workspace + static_cast<std::size_t>(row + 8 * h) * G::kTokens + 8 * f + token,
                     acc[f][2 * h], acc[f][2 * h + 1]);
    }
#pragma unroll
    for (int f = 0; f < NF; ++f) acc[f][0] = acc[f][1] = acc[f][2] = acc[f][3] = 0.f;
  };

  DescriptorBatch batch;
  for (int i = first; i < last; ++i) {
    const int k = i - first, stage = k % STAGES;
    const bool sparse = batch.get(desc, first, last, i, lane).y >> 31;
    mbarrier_wait(shared_address(&full[stage]), (k / STAGES) & 1);
    compute_tile(stage, sparse);
    __syncwarp();
    if (lane == 0) mbarrier_arrive(shared_address(&empty[stage]));
    const int rb = i / per_row;
    if (i + 1 == last || (i + 1) / per_row != rb) flush(rb);
  }
}

// The rows of row blocks several CTAs shared: one thread per (row, 4 tokens) converts the fp32 sums to bf16 and
// leaves zeros for the next call. The sums and the row block's contributor count are loaded together (one round
// trip, not two: measured 3–15 % of a whole GEMM call on an H200); cells of rows no CTA shares are zero and stay so.
__global__ void hybrid_finish_kernel(HybridGemmPlan p, __nv_bfloat16* __restrict__ y, int tokens, int padded_tokens) {
  allow_next_kernel();
  wait_for_previous_kernel();
  const int quads = padded_tokens / 4;
  const std::int64_t idx = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::int64_t row = idx / quads;
  const int q = static_cast<int>(idx % quads);
  if (row >= p.rows || 4 * q >= tokens) return;
  float4* cell = reinterpret_cast<float4*>(p.workspace + row * padded_tokens) + q;
  const float4 v = __ldcg(cell);
  if (__ldg(p.contributors + row / p.tile_height) <= 1) return;
  __stcg(cell, make_float4(0.f, 0.f, 0.f, 0.f));
  const float sums[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int u = 0; u < 4; ++u)
    if (4 * q + u < tokens) y[static_cast<std::size_t>(4 * q + u) * p.rows + row] = __float2bfloat16(sums[u]);
}

// The GEMM, then (when some row block is shared) the finish kernel behind it.
template <int TR, int TC, int NF, int STAGES>
std::string launch(const HybridGemmPlan& p, const void* x, void* y, int tokens, cudaStream_t stream) {
  using G = Geometry<TR, TC, NF>;
  constexpr int kSmem = STAGES * G::kStageBytes;
  auto kernel = hybrid_gemm_kernel<TR, TC, NF, STAGES>;
  static std::atomic<std::uint64_t> shared_memory_set_on{0};
  if (const cudaError_t e = allow_shared_memory(kernel, kSmem, shared_memory_set_on); e != cudaSuccess) return cudaGetErrorString(e);
  auto* out = static_cast<__nv_bfloat16*>(y);
  cudaLaunchAttribute pdl;
  cudaLaunchConfig_t config = dependent_launch_config(dim3(static_cast<unsigned>(p.ctas)), dim3(G::kThreads), kSmem, stream, &pdl);
  cudaLaunchKernelEx(&config, kernel, p, static_cast<const __nv_bfloat16*>(x), out, tokens);
  if (p.shared_row_blocks) {
    const std::int64_t threads = p.rows * (G::kTokens / 4);
    config = dependent_launch_config(dim3(static_cast<unsigned>((threads + 255) / 256)), dim3(256), 0, stream, &pdl);
    cudaLaunchKernelEx(&config, hybrid_finish_kernel, p, out, tokens, G::kTokens);
  }
  cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? std::string() : std::string(cudaGetErrorString(err));
}

template <int TR, int TC, int NF>
std::string launch_stages(const HybridGemmPlan& p, const void* x, void* y, int tokens, cudaStream_t stream) {
  switch (p.stages) {
    case 2: return launch<TR, TC, NF, 2>(p, x, y, tokens, stream);
    case 3: return launch<TR, TC, NF, 3>(p, x, y, tokens, stream);
    case 4: return launch<TR, TC, NF, 4>(p, x, y, tokens, stream);
    case 6: return launch<TR, TC, NF, 6>(p, x, y, tokens, stream);
    case 8: return launch<TR, TC, NF, 8>(p, x, y, tokens, stream);
    default: return launch<TR, TC, NF, 12>(p, x, y, tokens, stream);
  }
}

template <int TR, int TC>
std::string launch_tokens(const HybridGemmPlan& p, const void* x, void* y, int tokens, cudaStream_t stream) {
  switch (token_fragments(tokens)) {
    case 1: return launch_stages<TR, TC, 1>(p, x, y, tokens, stream);
    case 2: return launch_stages<TR, TC, 2>(p, x, y, tokens, stream);
    case 4: return launch_stages<TR, TC, 4>(p, x, y, tokens, stream);
    default: return launch_stages<TR, TC, 8>(p, x, y, tokens, stream);
  }
}

}  // namespace

std::int64_t hybrid_ring_bytes(int tile_height, int tile_width, int tokens, int stages) {
  const std::int64_t padded_tokens = 8 * token_fragments(tokens);
  return std::int64_t{stages} * (std::int64_t{tile_height} * tile_width * 2 + padded_tokens * (tile_width * 2 + 16));
}

constexpr int kStageChoices[] = {12, 8, 6, 4, 3, 2};
constexpr std::int64_t kPerCtaReserve = 2048;  // the runtime's reserved shared memory + the kernel's mbarriers

// Whether a ring of `ring` bytes fits the dynamic shared memory one CTA may opt into (static arrays beside it).
constexpr bool ring_fits_a_cta(std::int64_t ring) { return ring <= kMaxSharedBytes - 512; }

int hybrid_stages_that_fit(int tile_height, int tile_width, int tokens, int stages, int ctas_per_sm,
                           std::int64_t sm_shared_bytes) {
  for (int s : kStageChoices) {
    if (s > stages) continue;
    const std::int64_t ring = hybrid_ring_bytes(tile_height, tile_width, tokens, s);
    if (ring_fits_a_cta(ring) && std::max(ctas_per_sm, 1) * (ring + kPerCtaReserve) <= sm_shared_bytes)
      return s;
  }
  return 2;
}

bool hybrid_tile_supported(int tile_height, int tile_width) {
  return (tile_height == 128 || tile_height == 64) && (tile_width == 128 || tile_width == 64);
}

std::string hybrid_gemm_unsupported(const HybridGemmPlan& plan, int tokens) {
  if (tokens < 1 || tokens > kHybridMaxTokens)
    return "the hybrid kernel takes 1 to " + std::to_string(kHybridMaxTokens) + " tokens, got " +
           std::to_string(tokens);
  if (!hybrid_tile_supported(plan.tile_height, plan.tile_width))
    return "no hybrid kernel for " + std::to_string(plan.tile_height) + "x" + std::to_string(plan.tile_width) +
           " tiles (built: 128x128, 128x64, 64x128, 64x64)";
  if (std::find(std::begin(kStageChoices), std::end(kStageChoices), plan.stages) == std::end(kStageChoices))
    return "hybrid kernel stages must be 2, 3, 4, 6, 8 or 12, got " + std::to_string(plan.stages);
  if (!ring_fits_a_cta(hybrid_ring_bytes(plan.tile_height, plan.tile_width, tokens, plan.stages)))
    return std::to_string(plan.stages) + " stages of " + std::to_string(plan.tile_height) + "x" +
           std::to_string(plan.tile_width) + " tiles for " + std::to_string(tokens) +
           " tokens exceed the shared memory of a CTA";
  if (plan.ctas <= 0) return "hybrid kernel plan has no CTAs";
  return {};
}

std::string hybrid_gemm(const HybridGemmPlan& plan, const void* x, void* y, int tokens, void* stream) {
  if (std::string why = hybrid_gemm_unsupported(plan, tokens); !why.empty()) return why;
  auto s = static_cast<cudaStream_t>(stream);
  if (plan.tile_height == 128 && plan.tile_width == 128) return launch_tokens<128, 128>(plan, x, y, tokens, s);
  if (plan.tile_height == 128) return launch_tokens<128, 64>(plan, x, y, tokens, s);
  if (plan.tile_width == 128) return launch_tokens<64, 128>(plan, x, y, tokens, s);
  return launch_tokens<64, 64>(plan, x, y, tokens, s);
}

int device_multiprocessors() {
  int device = 0, count = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return 0;
  if (cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) return 0;
  return count;
}

std::int64_t device_shared_bytes_per_multiprocessor() {
  int device = 0, bytes = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return 0;
  if (cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerMultiprocessor, device) != cudaSuccess) return 0;
  return bytes;
}

}  // namespace patchlm::kernels
