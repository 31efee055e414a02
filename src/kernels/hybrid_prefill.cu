// The CUDA kernel of hybrid_prefill.h. Mainloop per stored tile of the CTA's row block (ring of kStages slots, each:
// the tokens' x columns of the tile — TW / 64 panels of N rows × 128 bytes, 128-byte swizzled — then the tile's packed
// bytes as stored; one mbarrier per slot):
//   wait for the slot's mbarrier → each warp loads its 16-row slice's A fragments (and metadata) from shared memory →
//   wgmma over the tile's K steps → thread 0 issues a later tile's copies (TMA for x, one bulk copy for the tile) into
//   the slot freed by the previous iteration → wait for the wgmmas → barrier.
// Epilogue: fp32 accumulators → bf16, transposed through shared memory, written as 16-byte rows of y.
#include <cudaTypedefs.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernels/async_copy.h"
#include "kernels/hybrid_prefill.h"

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define PATCHLM_WGMMA 1
#include "kernels/hybrid_prefill_wgmma.h"
#endif

namespace patchlm::kernels {
namespace {

constexpr int kPanelRowBytes = 128;  // one 128-byte swizzle atom row: 64 bf16 of K

template <int TH, int TW, int N>
struct Shape {
  static constexpr int kThreads = TH / 64 * 128;  // one warpgroup per 64 weight rows
  static constexpr int kPanels = TW / 64;
  static constexpr int kPanelBytes = N * kPanelRowBytes;
  static constexpr int kXBytes = kPanels * kPanelBytes;
  static constexpr int kTileBytes = TH * TW * 2;  // a dense tile; a 2:4 tile takes 9/16 of it
  static constexpr int kSlotBytes = kXBytes + kTileBytes;
  static constexpr int kStages = N == 256 ? 2 : 3;  // as many slots as fit next to one CTA's registers
  static constexpr int kOutStride = TH + 8;  // bf16 per token row of the epilogue's staging
  // The ring (reused by the epilogue's staging), then one mbarrier per slot; 1024 bytes to align the ring.
  static constexpr int kRingBytes = kStages * kSlotBytes > N * kOutStride * 2 ? kStages * kSlotBytes : N * kOutStride * 2;
  static constexpr int kSharedBytes = kRingBytes + 8 * kStages + 1024;
};

// bf16 bits of x, rounded to nearest even (the output's dtype).
__device__ __forceinline__ std::uint16_t bf16_bits(float x) { return __bfloat16_as_ushort(__float2bfloat16_rn(x)); }

#ifdef PATCHLM_WGMMA
// wgmma's descriptor of a K-major operand in 128-byte swizzled atoms of 8 rows × 128 bytes (stride 1024 bytes between
// 8-row groups): start address, leading offset (unused for swizzled K-major), stride offset, swizzle mode 1.
__device__ __forceinline__ std::uint64_t smem_desc(std::uint32_t addr) {
  return static_cast<std::uint64_t>((addr & 0x3FFFF) >> 4) | static_cast<std::uint64_t>(1) << 16 |
         static_cast<std::uint64_t>(1024 >> 4) << 32 | static_cast<std::uint64_t>(1) << 62;
}

struct TileRef {
  std::int64_t offset;
  int column;
  bool sparse;
};
// Stored tile `index`: byte offset / 16, then its column | 2:4 << 31 (hybrid_schedule.h's tile_desc).
__device__ __forceinline__ TileRef tile_ref(const HybridPrefillPlan& p, std::int64_t index) {
  const std::uint32_t where = p.tile_desc[2 * index + 1];
  return {16 * static_cast<std::int64_t>(p.tile_desc[2 * index]), static_cast<int>(where & 0x7FFFFFFF), (where >> 31) != 0};
}

// The copies of one tile into a slot, issued by one thread: x columns [column · TW, + TW) of tokens [tok0, tok0 + N)
// as TW / 64 swizzled panels (TMA; rows past the tokens arrive as zeros), then the packed tile (a bulk copy); the
// slot's mbarrier completes when all their bytes have landed. The MMA warps issue nothing: when each thread issued
// 16-byte cp.async copies, issuing them bounded this kernel (docs/performance.md).
template <int TH, int TW, int N>
__device__ __forceinline__ void issue_tile(const HybridPrefillPlan& p, const CUtensorMap* xmap, const TileRef& t,
                                           std::int64_t tok0, std::uint32_t slot, std::uint32_t bar) {
  using S = Shape<TH, TW, N>;
  const int tile_bytes = t.sparse ? S::kTileBytes / 16 * 9 : S::kTileBytes;
  mbarrier_arrive_expect(bar, S::kXBytes + tile_bytes);
#pragma unroll
  for (int panel = 0; panel < S::kPanels; ++panel)
    tensor_copy(slot + panel * S::kPanelBytes, xmap, t.column * TW + 64 * panel, static_cast<int>(tok0), bar);
  bulk_copy(slot + S::kXBytes, p.data + t.offset, tile_bytes, bar);
}

// Issues one tile's wgmmas for this warp's warpgroup (the warp supplies the A fragments of its 16-row slice) and
// commits them as one group; the caller waits.
template <int TH, int TW, int N>
__device__ __forceinline__ void tile_mma(float* acc, const TileRef& t, const std::uint8_t* slot_ptr, std::uint32_t slot,
                                         int slice, int lane) {
  using S = Shape<TH, TW, N>;
  const std::uint8_t* tile = slot_ptr + S::kXBytes;
  if (t.sparse) {
    constexpr int kSteps = TW / 32;
    const std::uint8_t* values = tile + slice * 18 * TW;
    const auto* meta = reinterpret_cast<const std::uint32_t*>(values + 16 * TW);
    std::uint32_t a[kSteps][4], e[kSteps];
#pragma unroll
    for (int j = 0; j < kSteps; ++j) {
      const uint4 v = reinterpret_cast<const uint4*>(values)[j * 32 + lane];
      a[j][0] = v.x, a[j][1] = v.y, a[j][2] = v.z, a[j][3] = v.w;
      e[j] = meta[lane * (TW / 64) + j / 2];
    }
    wgmma::fence();
#pragma unroll
    for (int j = 0; j < kSteps; ++j) {
      const std::uint64_t desc = smem_desc(slot + (j / 2) * S::kPanelBytes + (j % 2) * 64);
      if (j % 2 == 0) wgmma::Mma<N>::template sparse<0>(acc, a[j], desc, e[j]);
      else wgmma::Mma<N>::template sparse<1>(acc, a[j], desc, e[j]);
    }
  } else {
    constexpr int kSteps = TW / 16;
    const auto* frags = reinterpret_cast<const uint4*>(tile + slice * 32 * TW);
    std::uint32_t a[kSteps][4];
#pragma unroll
    for (int s = 0; s < kSteps; ++s) {
      const uint4 v = frags[s * 32 + lane];
      a[s][0] = v.x, a[s][1] = v.y, a[s][2] = v.z, a[s][3] = v.w;
    }
    wgmma::fence();
#pragma unroll
    for (int s = 0; s < kSteps; ++s)
      wgmma::Mma<N>::dense(acc, a[s], smem_desc(slot + (s / 4) * S::kPanelBytes + (s % 4) * 32));
  }
  wgmma::commit();
}
#endif

// Grid: (token tiles, row blocks, K splits) — CTAs running at once share a few row blocks' weights through L2; a
// split (grid.z > 1, few tokens) walks its share of the row block's tiles and adds its fp32 sums into `partial`.
template <int TH, int TW, int N>
__global__ void __launch_bounds__(Shape<TH, TW, N>::kThreads, 1)
    prefill_kernel(HybridPrefillPlan p, const __grid_constant__ CUtensorMap xmap, std::uint16_t* y, float* partial,
                   std::int64_t tokens) {
#ifdef PATCHLM_WGMMA
  using S = Shape<TH, TW, N>;
  constexpr int kStages = S::kStages;
  extern __shared__ std::uint8_t shared_raw[];
  std::uint8_t* shared = reinterpret_cast<std::uint8_t*>((reinterpret_cast<std::uintptr_t>(shared_raw) + 1023) & ~std::uintptr_t{1023});
  const std::uint32_t base = shared_address(shared);
  const std::int64_t tok0 = static_cast<std::int64_t>(blockIdx.x) * N, rb = blockIdx.y;
  const int tiles = static_cast<int>(p.cols / TW);
  const int begin = static_cast<int>(static_cast<std::int64_t>(tiles) * blockIdx.z / gridDim.z);
  const int count = static_cast<int>(static_cast<std::int64_t>(tiles) * (blockIdx.z + 1) / gridDim.z) - begin;
  const std::int64_t first = rb * tiles + begin;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;  // warp w of warpgroup w / 4: slice w of the tile

  float acc[N / 2];
#pragma unroll
  for (int i = 0; i < N / 2; ++i) acc[i] = 0.f;

  // Slot i % kStages holds tile i; its mbarrier completes once per use (parity i / kStages). While tile i's wgmmas
  // run, thread 0 issues tile i + kStages − 1 into the slot tile i − 1 used (free since the barrier that ended
  // iteration i − 1).
  const std::uint32_t bars = base + S::kRingBytes;
  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) mbarrier_init(bars + 8 * s, 1);
    mbarrier_init_fence();
    for (int s = 0; s < kStages - 1 && s < count; ++s)
      issue_tile<TH, TW, N>(p, &xmap, tile_ref(p, first + s), tok0, base + s * S::kSlotBytes, bars + 8 * s);
  }
  __syncthreads();
  for (int i = 0; i < count; ++i) {
    const int slot = i % kStages;
    mbarrier_wait(bars + 8 * slot, static_cast<std::uint32_t>(i / kStages) & 1);
    tile_mma<TH, TW, N>(acc, tile_ref(p, first + i), shared + slot * S::kSlotBytes, base + slot * S::kSlotBytes, warp,
                        lane);
    const int next = i + kStages - 1;
    if (threadIdx.x == 0 && next < count)
      issue_tile<TH, TW, N>(p, &xmap, tile_ref(p, first + next), tok0, base + (next % kStages) * S::kSlotBytes,
                            bars + 8 * (next % kStages));
    wgmma::wait_all();
    __syncthreads();
  }

  const int g = lane / 4, t = lane % 4, r = 16 * warp + g;
  if (gridDim.z > 1) {  // a K split: fp32 sums into partial [tokens, rows]; the finish kernel writes y
#pragma unroll
    for (int j = 0; j < N / 8; ++j) {
      const int n = 8 * j + 2 * t;
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const std::int64_t tok = tok0 + n + (q & 1), row = rb * TH + r + 8 * (q >> 1);
        if (tok < tokens) atomicAdd(partial + tok * p.rows + row, acc[4 * j + q]);
      }
    }
    return;
  }
  // Epilogue: accumulator (row 16·w + g (+8), token 8·j + 2·t (+1)) → staging [token][row] bf16 → y rows.
  auto* out = reinterpret_cast<std::uint16_t*>(shared);
#pragma unroll
  for (int j = 0; j < N / 8; ++j) {
    const int n = 8 * j + 2 * t;
    const float v[4] = {acc[4 * j], acc[4 * j + 1], acc[4 * j + 2], acc[4 * j + 3]};
    const int rr[4] = {r, r, r + 8, r + 8}, nn[4] = {n, n + 1, n, n + 1};
#pragma unroll
    for (int q = 0; q < 4; ++q) out[nn[q] * S::kOutStride + rr[q]] = bf16_bits(v[q]);
  }
  __syncthreads();
  constexpr int kChunks = TH / 8;
  for (int k = threadIdx.x; k < N * kChunks; k += S::kThreads) {
    const int n = k / kChunks, c = k % kChunks;
    if (tok0 + n >= tokens) continue;
    const uint4 v = *reinterpret_cast<const uint4*>(out + n * S::kOutStride + 8 * c);
    *reinterpret_cast<uint4*>(y + (tok0 + n) * p.rows + rb * TH + 8 * c) = v;
  }
#else
  (void)p, (void)xmap, (void)y, (void)partial, (void)tokens;
#endif
}

// y = bf16(partial).
__global__ void finish_kernel(const float* partial, std::uint16_t* y, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    y[i] = bf16_bits(partial[i]);
}

// Tokens per CTA: 256 halve the weight traffic per FLOP; 128 waste less on short inputs and pipeline 3 deep.
int tokens_per_cta(std::int64_t tokens) { return tokens > 128 ? 256 : 128; }

// How many CTAs share each row block's tiles (split-K): enough for one CTA per multiprocessor when the token tiles
// × row blocks alone are fewer, with at least 4 tiles each.
int k_splits(const HybridPrefillPlan& p, std::int64_t tokens) {
  const std::int64_t n = tokens_per_cta(tokens);
  const std::int64_t ctas = (tokens + n - 1) / n * (p.rows / p.tile_height), tiles = p.cols / p.tile_width;
  return static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(tiles / 4, (p.multiprocessors + ctas - 1) / ctas)));
}

// x [tokens, cols] bf16 as TMA sees it: boxes of 64 columns (128 bytes, one swizzle atom row) × N tokens.
std::string encode_x_map(CUtensorMap* map, const void* x, std::int64_t tokens, std::int64_t cols, int n) {
  static const auto encode = [] {
    void* fn = nullptr;
    cudaDriverEntryPointQueryResult found{};
    const cudaError_t e = cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &found);
    return e == cudaSuccess && found == cudaDriverEntryPointSuccess ? reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(fn)
                                                                     : nullptr;
  }();
  if (encode == nullptr) return "hybrid prefill: the CUDA driver has no cuTensorMapEncodeTiled";
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(cols), static_cast<cuuint64_t>(tokens)};
  const cuuint64_t strides[1] = {static_cast<cuuint64_t>(cols) * 2};
  const cuuint32_t box[2] = {64, static_cast<cuuint32_t>(n)}, element_strides[2] = {1, 1};
  const CUresult r = encode(map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, const_cast<void*>(x), dims, strides, box,
                            element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                            CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  return r == CUDA_SUCCESS ? std::string() : "hybrid prefill: cuTensorMapEncodeTiled failed (" + std::to_string(r) + ")";
}

template <int TH, int TW, int N>
std::string launch(const HybridPrefillPlan& p, const void* x, void* y, std::int64_t tokens, cudaStream_t stream) {
  using S = Shape<TH, TW, N>;
  auto kernel = prefill_kernel<TH, TW, N>;
  CUtensorMap xmap;
  if (std::string why = encode_x_map(&xmap, x, tokens, p.cols, N); !why.empty()) return why;
  cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, S::kSharedBytes);
  if (e != cudaSuccess) return std::string("hybrid prefill: ") + cudaGetErrorString(e);
  const std::int64_t token_tiles = (tokens + N - 1) / N, row_blocks = p.rows / TH;
  const int splits = k_splits(p, tokens);
  if (splits > 1 && p.partial == nullptr) return "hybrid prefill: a K split needs the fp32 workspace";
  const dim3 grid(static_cast<unsigned>(token_tiles), static_cast<unsigned>(row_blocks), static_cast<unsigned>(splits));
  kernel<<<grid, S::kThreads, S::kSharedBytes, stream>>>(p, xmap, static_cast<std::uint16_t*>(y), p.partial, tokens);
  if (splits > 1) {
    const std::int64_t n = tokens * p.rows;
    finish_kernel<<<static_cast<unsigned>(std::min<std::int64_t>((n + 255) / 256, 4096)), 256, 0, stream>>>(
        p.partial, static_cast<std::uint16_t*>(y), n);
  }
  e = cudaGetLastError();
  return e == cudaSuccess ? std::string() : std::string("hybrid prefill: ") + cudaGetErrorString(e);
}

template <int TH, int TW>
std::string launch_for_tokens(const HybridPrefillPlan& p, const void* x, void* y, std::int64_t tokens,
                              cudaStream_t stream) {
  return tokens_per_cta(tokens) == 256 ? launch<TH, TW, 256>(p, x, y, tokens, stream)
                                       : launch<TH, TW, 128>(p, x, y, tokens, stream);
}

}  // namespace

bool hybrid_prefill_splits_k(const HybridPrefillPlan& p, std::int64_t tokens) { return k_splits(p, tokens) > 1; }

bool hybrid_prefill_tile_supported(int th, int tw) { return (th == 128 || th == 64) && (tw == 128 || tw == 64); }

std::string hybrid_prefill(const HybridPrefillPlan& p, const void* x, void* y, std::int64_t tokens, void* stream) {
  if (!hybrid_prefill_tile_supported(p.tile_height, p.tile_width))
    return "hybrid prefill: no kernel for " + std::to_string(p.tile_height) + "x" + std::to_string(p.tile_width) + " tiles";
  if (reinterpret_cast<std::uintptr_t>(x) % 16 != 0 || reinterpret_cast<std::uintptr_t>(y) % 16 != 0)
    return "hybrid prefill: x and y must be 16-byte aligned";
  if (tokens <= 0) return {};
  const auto s = static_cast<cudaStream_t>(stream);
  if (p.tile_height == 128 && p.tile_width == 128) return launch_for_tokens<128, 128>(p, x, y, tokens, s);
  if (p.tile_height == 128) return launch_for_tokens<128, 64>(p, x, y, tokens, s);
  if (p.tile_width == 128) return launch_for_tokens<64, 128>(p, x, y, tokens, s);
  return launch_for_tokens<64, 64>(p, x, y, tokens, s);
}

}  // namespace patchlm::kernels
