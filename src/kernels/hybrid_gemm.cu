// Hybrid dense / 2:4 tile GEMM for decode — see kernels/hybrid_gemm.h and kernels/hybrid_layout.h.
//
// Layers, CUTLASS-style:
//   mainloop  — a CTA streams its run of stored tiles (kernels/hybrid_schedule) through a STAGES-deep ring; each
//               stage holds one whole weight tile (its bytes are contiguous in the packed data: one bulk copy on
//               Hopper, completion counted on an mbarrier; 16-byte cp.async on Ampere) and the matching tile-wide
//               slice of x (cp.async; rows beyond the real tokens stay zero).
//   warp MMA  — warp w owns rows 16w..16w+15 of the tile: per 32 columns one mma.sp.m16n8k32 (2:4 tile) or two
//               mma.m16n8k16 (dense tile) per 8 tokens; A comes straight from shared memory as packed, B with
//               ldmatrix from the x slice (rows padded by 16 bytes: conflict-free).
//   epilogue  — when the CTA leaves a row block: a row block it owns alone is written as bf16 directly; otherwise the
//               fp32 partial sums are added into the workspace (fire-and-forget reductions) and, once its run is
//               done, the CTA counts itself in; the last contributor (a counter per row block) converts the sums to
//               bf16 and zeroes the workspace and counter for the next call.
#include "kernels/hybrid_gemm.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace patchlm::kernels {
namespace {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
constexpr bool kBulk = true;  // Hopper bulk copies for weight tiles
#else
constexpr bool kBulk = false;
#endif

__device__ __forceinline__ std::uint32_t shared_address(const void* p) {
  return static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void cp_async16(std::uint32_t dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(dst), "l"(src));
}

// Hopper: one thread moves a whole tile with the bulk-copy (TMA) engine; completion is counted in bytes on an
// mbarrier, so no per-thread copies are in flight and the ring holds as many bytes as shared memory allows.
__device__ __forceinline__ void mbarrier_init(std::uint32_t bar) {
#if __CUDA_ARCH__ >= 900
  asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(bar));
  asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
#endif
}

__device__ __forceinline__ void bulk_copy(std::uint32_t dst, const void* src, std::uint32_t bytes, std::uint32_t bar) {
#if __CUDA_ARCH__ >= 900
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(bytes) : "memory");
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(dst),
               "l"(src), "r"(bytes), "r"(bar)
               : "memory");
#endif
}

__device__ __forceinline__ void mbarrier_wait(std::uint32_t bar, std::uint32_t parity) {
#if __CUDA_ARCH__ >= 900
  std::uint32_t done = 0;
  while (!done)
    asm volatile(
        "{ .reg .pred p; mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2; selp.u32 %0, 1, 0, p; }"
        : "=r"(done)
        : "r"(bar), "r"(parity)
        : "memory");
#endif
}

// Programmatic dependent launch (Hopper): the weight prologue of this kernel may run while the previous kernel in the
// stream finishes; x, the workspace and y are touched only after griddepcontrol.wait.
__device__ __forceinline__ void wait_for_previous_kernel() {
#if __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void allow_next_kernel() {
#if __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;");
#endif
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;"); }

template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(N));
}

// Four 8×8 b16 matrices: lane l gives the address of row l%8 of matrix l/8; register q holds matrix q.
__device__ __forceinline__ void ldmatrix_x4(std::uint32_t address, std::uint32_t (&r)[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}

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
  static constexpr int kWarps = TR / 16;
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kTokens = NF * 8;             // tokens padded to whole n8 fragments
  static constexpr int kXStride = TC * 2 + 16;       // bytes per token row of the x slice
  static constexpr int kWeightBytes = TR * TC * 2;   // a stage fits the larger (dense) tile
  static constexpr int kStageBytes = kWeightBytes + kTokens * kXStride;
  static constexpr int kSparseSlice = 18 * TC;       // bytes of a 16-row slice of a 2:4 tile
  static constexpr int kDenseSlice = 32 * TC;
  static constexpr int kMetaWords = TC / 64;         // metadata words per lane per slice
};

template <int TR, int TC, int NF, int STAGES>
__global__ void __launch_bounds__(TR / 16 * 32, 1)
    hybrid_gemm_kernel(HybridGemmPlan p, const __nv_bfloat16* __restrict__ x, __nv_bfloat16* __restrict__ y,
                       int tokens) {
  using G = Geometry<TR, TC, NF>;
  extern __shared__ __align__(16) std::uint8_t smem[];
  __shared__ int last_contributor[2];

  __shared__ __align__(8) std::uint64_t full[STAGES];  // Hopper: weight tile of stage s has landed

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int first = p.cta_first_tile[blockIdx.x], last = p.cta_first_tile[blockIdx.x + 1];
  if (first >= last) return;
  const int per_row = static_cast<int>(p.cols / TC);
  const int rows = static_cast<int>(p.rows);
  const std::uint32_t smem0 = shared_address(smem);

  // Tile metadata is fetched one iteration before it is needed, so no global-load latency sits between a barrier
  // and the next bulk copy; each stage remembers whether it holds a 2:4 tile.
  __shared__ int stage_sparse[STAGES];
  auto descriptor = [&](int i) { return __ldg(reinterpret_cast<const uint2*>(p.tile_desc) + i); };
  // Only the first and last row block of a contiguous run can be shared with other CTAs.
  const int rb_first = first / per_row, rb_last = (last - 1) / per_row;
  const int shared_first = p.contributors[rb_first], shared_last = p.contributors[rb_last];
  auto contributors = [&](int rb) { return rb == rb_first ? shared_first : rb == rb_last ? shared_last : 1; };

  // Token rows beyond `tokens` stay zero in every stage; only real rows are copied per tile.
  for (int k = tid; k < STAGES * G::kTokens * G::kXStride / 16; k += G::kThreads) {
    int stage = k / (G::kTokens * G::kXStride / 16), rest = k % (G::kTokens * G::kXStride / 16);
    if (rest * 16 / G::kXStride >= tokens)
      *reinterpret_cast<uint4*>(smem + stage * G::kStageBytes + G::kWeightBytes + rest * 16) = make_uint4(0, 0, 0, 0);
  }
  if (kBulk && tid == 0)
    for (int s = 0; s < STAGES; ++s) mbarrier_init(shared_address(&full[s]));
  __syncthreads();

  auto load_weights = [&](uint2 d, int stage) {
    const std::uint8_t* src = p.data + static_cast<std::size_t>(d.x) * 16;
    const bool sparse = d.y >> 31;
    const int bytes = sparse ? TR * TC * 9 / 8 : TR * TC * 2;
    const std::uint32_t dst = smem0 + stage * G::kStageBytes;
    if (tid == 0) stage_sparse[stage] = sparse;
    if (kBulk) {
      if (tid == 0) bulk_copy(dst, src, bytes, shared_address(&full[stage]));
    } else {
      for (int c = tid; c < bytes / 16; c += G::kThreads) cp_async16(dst + c * 16, src + c * 16);
    }
  };
  auto load_x = [&](uint2 d, int stage) {
    const __nv_bfloat16* xs = x + static_cast<std::size_t>(d.y & 0x7FFFFFFFu) * TC;
    const std::uint32_t xdst = smem0 + stage * G::kStageBytes + G::kWeightBytes;
    for (int c = tid; c < tokens * (TC / 8); c += G::kThreads) {
      int row = c / (TC / 8), chunk = c % (TC / 8);
      cp_async16(xdst + row * G::kXStride + chunk * 16, xs + static_cast<std::size_t>(row) * p.cols + chunk * 8);
    }
  };

  float acc[NF][4];
#pragma unroll
  for (int f = 0; f < NF; ++f) acc[f][0] = acc[f][1] = acc[f][2] = acc[f][3] = 0.f;

  auto compute_tile = [&](int stage) {
    const std::uint8_t* weights = smem + stage * G::kStageBytes;
    // ldmatrix row address of this lane: token row lane%8 of the fragment, 8-column chunk lane/8 of 32 columns.
    const std::uint32_t xrow = smem0 + stage * G::kStageBytes + G::kWeightBytes + (lane & 7) * G::kXStride +
                               (lane >> 3) * 16;
    if (stage_sparse[stage]) {
      const std::uint8_t* slice = weights + warp * G::kSparseSlice;
      std::uint32_t meta[G::kMetaWords];
#pragma unroll
      for (int w = 0; w < G::kMetaWords; ++w)
        meta[w] = reinterpret_cast<const std::uint32_t*>(slice + 16 * TC)[lane * G::kMetaWords + w];
#pragma unroll
      for (int j = 0; j < TC / 32; ++j) {
        const uint4 a = reinterpret_cast<const uint4*>(slice)[j * 32 + lane];
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
      const uint4* slice = reinterpret_cast<const uint4*>(weights + warp * G::kDenseSlice);
#pragma unroll
      for (int j = 0; j < TC / 32; ++j) {
        const uint4 a0 = slice[(2 * j) * 32 + lane], a1 = slice[(2 * j + 1) * 32 + lane];
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
  // Row blocks this CTA shares with others, whose sums it added to the workspace but has not yet counted in. A
  // contiguous run of tiles shares at most its first and last row block; counting in (fence + counter atomic) is
  // deferred to the end so the stream never waits on the reduction.
  int pending[2], pending_count = 0;

  // Counts this CTA in for each pending row block; the last contributor converts the sums to bf16 and leaves the
  // workspace and counter at zero for the next call.
  auto count_in = [&] {
    __threadfence();
    __syncthreads();
    if (tid == 0)
      for (int j = 0; j < pending_count; ++j)
        last_contributor[j] = atomicAdd(p.counters + pending[j], 1) == p.contributors[pending[j]] - 1;
    __syncthreads();
    for (int j = 0; j < pending_count; ++j) {
      if (!last_contributor[j]) continue;
      __threadfence();
      const int rb = pending[j];
      for (int k = tid; k < TR * G::kTokens; k += G::kThreads) {
        int r = rb * TR + k / G::kTokens, t = k % G::kTokens;
        float* cell = p.workspace + static_cast<std::size_t>(r) * G::kTokens + t;
        float v = __ldcg(cell);
        __stcg(cell, 0.f);
        if (t < tokens) y[static_cast<std::size_t>(t) * rows + r] = __float2bfloat16(v);
      }
      if (tid == 0) p.counters[rb] = 0;
    }
    pending_count = 0;
  };

  auto flush = [&](int rb) {
    const int row = rb * TR + warp * 16 + lane / 4;
    const int token = 2 * (lane % 4);
    if (contributors(rb) == 1) {
#pragma unroll
      for (int f = 0; f < NF; ++f)
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          int t = 8 * f + token + (c & 1);
          if (t < tokens) y[static_cast<std::size_t>(t) * rows + row + 8 * (c >> 1)] = __float2bfloat16(acc[f][c]);
        }
    } else {
      if (pending_count == 2) count_in();  // not reached by contiguous runs; kept for safety
#pragma unroll
      for (int f = 0; f < NF; ++f)
#pragma unroll
        for (int h = 0; h < 2; ++h)
          add_pair(p.workspace + static_cast<std::size_t>(row + 8 * h) * G::kTokens + 8 * f + token, acc[f][2 * h],
                   acc[f][2 * h + 1]);
      pending[pending_count++] = rb;
    }
#pragma unroll
    for (int f = 0; f < NF; ++f) acc[f][0] = acc[f][1] = acc[f][2] = acc[f][3] = 0.f;
  };

  // Weights do not depend on the previous kernel: start streaming them before waiting for it.
  uint2 prologue[STAGES - 1];
#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s)
    if (first + s < last) {
      prologue[s] = descriptor(first + s);
      load_weights(prologue[s], s);
    }
  uint2 next = first + STAGES - 1 < last ? descriptor(first + STAGES - 1) : make_uint2(0, 0);
  allow_next_kernel();
  wait_for_previous_kernel();
#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (first + s < last) load_x(prologue[s], s);
    cp_async_commit();
  }
  for (int i = first; i < last; ++i) {
    const int k = i - first;
    cp_async_wait<STAGES - 2>();
    if (kBulk) mbarrier_wait(shared_address(&full[k % STAGES]), (k / STAGES) & 1);
    __syncthreads();  // tile k landed for every thread; stage (k-1) % STAGES is free again
    if (i + STAGES - 1 < last) {
      load_weights(next, (k + STAGES - 1) % STAGES);
      load_x(next, (k + STAGES - 1) % STAGES);
      if (i + STAGES < last) next = descriptor(i + STAGES);
    }
    cp_async_commit();
    compute_tile(k % STAGES);
    const int rb = i / per_row;
    if (i + 1 == last || (i + 1) / per_row != rb) flush(rb);
  }
  if (pending_count > 0) count_in();
}

// Programmatic dependent launch needs compute capability 9.0.
bool supports_dependent_launch() {
  static const bool supported = [] {
    int device = 0, major = 0;
    return cudaGetDevice(&device) == cudaSuccess &&
           cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) == cudaSuccess && major >= 9;
  }();
  return supported;
}

template <int TR, int TC, int NF, int STAGES>
std::string launch(const HybridGemmPlan& p, const void* x, void* y, int tokens, cudaStream_t stream) {
  using G = Geometry<TR, TC, NF>;
  constexpr int kSmem = STAGES * G::kStageBytes;
  auto kernel = hybrid_gemm_kernel<TR, TC, NF, STAGES>;
  static cudaError_t configured = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem);
  if (configured != cudaSuccess) return cudaGetErrorString(configured);
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(static_cast<unsigned>(p.ctas));
  config.blockDim = dim3(G::kThreads);
  config.dynamicSmemBytes = kSmem;
  config.stream = stream;
  cudaLaunchAttribute attribute[1];
  attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute[0].val.programmaticStreamSerializationAllowed = 1;
  config.attrs = attribute;
  config.numAttrs = supports_dependent_launch() ? 1 : 0;
  cudaLaunchKernelEx(&config, kernel, p, static_cast<const __nv_bfloat16*>(x), static_cast<__nv_bfloat16*>(y), tokens);
  cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? std::string() : std::string(cudaGetErrorString(err));
}

template <int TR, int TC, int NF>
std::string launch_stages(const HybridGemmPlan& p, const void* x, void* y, int tokens, cudaStream_t stream) {
  switch (p.stages) {
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
  if (plan.stages != 3 && plan.stages != 4 && plan.stages != 6 && plan.stages != 8 && plan.stages != 12)
    return "hybrid kernel stages must be 3, 4, 6, 8 or 12, got " + std::to_string(plan.stages);
  if (hybrid_ring_bytes(plan.tile_height, plan.tile_width, tokens, plan.stages) > kMaxSharedBytes - 512)
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

}  // namespace patchlm::kernels
