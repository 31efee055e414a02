// The CUDA kernel of hybrid_prefill.h: persistent CTAs (kernels/prefill_work.h says which output tiles and K steps
// each computes), warp-specialised.
//   producer warpgroup (one thread): for each tile of its segments, waits until the MMA warps released the ring slot,
//     then issues the tile's copies — the tokens' x columns as TW / 64 TMA panels (N rows × 128 bytes, 128-byte swizzled:
//     the layout wgmma reads) and the tile's bytes as one bulk copy (every tile is already in the layout wgmma reads on
//     the device, docs/format.md "On the GPU") — counted by the slot's `full` mbarrier. With N > 160 a slot holds one
//     64-column part of a tile instead (Shape::kPartSlots), so that four slots still fit.
//   MMA warps (one warpgroup per 64 weight rows): every wgmma takes both operands from shared memory through
//     descriptors (the tiles are in the device layout, docs/format.md). A dense tile is one group of wgmmas; a 2:4
//     tile goes per 64-column part: load the warp's metadata word from the slot into one of two registers, issue the
//     part's wgmma.sp. After each group: commit, and wait until only it is still running — so the tensor cores
//     always hold the next group; a slot is released (its `empty` mbarrier, one arrival per warp) as soon as its last
//     group has completed.
// Launched as a dependent (kernels/dependent_launch.h): the producer requests its first weight tile before the kernel
// before it in the stream has finished and everything else after; the MMA warps wait for that kernel before they start.
// Epilogue per segment: an output tile goes to y as bf16 pairs straight from the accumulators — after adding the
// other CTAs' partial sums where stream-K split it (prefill_work.h); a contribution goes to the CTA's partial slot.
// Where a thread-block cluster split it (PrefillSplit::cluster), the ranks add up their sums through distributed
// shared memory and each writes a slice of the tile's tokens (kernels/cluster_reduce.h). With x multicast
// (PrefillSplit::multicast_2 / multicast_4) a cluster's CTAs compute neighbouring row blocks together and share each
// x panel: every producer loads a slice of it into every rank's ring (kernels/x_multicast.h).
#include <cudaTypedefs.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <iterator>
#include <utility>

#include "kernels/async_copy.h"
#include "kernels/cluster_occupancy.h"
#include "kernels/cluster_reduce.h"
#include "kernels/dense_tile_layout.h"
#include "kernels/dependent_launch.h"
#include "kernels/hybrid_prefill.h"
#include "kernels/prefill_epilogue.h"
#include "kernels/prefill_trace.h"
#include "kernels/prefill_work.h"
#include "kernels/shared_memory_limit.h"
#include "kernels/sparse_tile_layout.h"
#include "kernels/stream_k_exchange.h"
#include "kernels/tile_desc.h"
#include "kernels/x_multicast.h"

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define PATCHLM_WGMMA 1
#include "kernels/hybrid_prefill_wgmma.h"
#endif

namespace patchlm::kernels {
namespace {

#if PATCHLM_PREFILL_TRACE
__device__ std::uint64_t prefill_trace_events[kTraceCtas * kTraceEvents];
#endif

constexpr int kPanelRowBytes = 128;          // one 128-byte swizzle atom row: 64 bf16 of K
constexpr int kMaxSharedBytes = 227 * 1024;  // per block on Hopper

template <int TH, int TW, int N>
struct Shape {
  static constexpr int kMmaWarps = TH / 16;  // one warpgroup per 64 weight rows, a warp per 16
  // + a producer warpgroup (one thread issues; registers are allocated per warpgroup, so a lone producer warp would
  // cost as much, and setmaxnreg — which moves registers to the MMA warps — works on whole warpgroups)
  static constexpr int kThreads = 32 * kMmaWarps + 128;
  static constexpr int kPanels = TW / 64;  // 64-column parts of a tile
  static constexpr int kPanelBytes = N * kPanelRowBytes;
  static constexpr int kTileBytes = TH * TW * 2;          // a dense tile
  static constexpr int kSparseTileBytes = kTileBytes / 16 * 9;  // a 2:4 tile: kept values and metadata
  static_assert(kSparseTileBytes == kPanels * sparse_part_bytes(TH), "a 2:4 tile is its parts");
  // With more than 160 tokens a slot holds one 64-column part of a tile (a "K-half"): whole 128-column steps would fit
  // only two slots next to their x panels (docs/performance.md, step 7). At 160 they fit three, which ran 1.03–1.06×
  // faster than four K-half slots (step 17). A dense tile's part is its warpgroups' 64-column panels, a 2:4 tile's its
  // part in the device layout (kernels/sparse_tile_layout.h).
  static constexpr bool kPartSlots = N > 160 && kPanels > 1;
  static constexpr int kPanelsPerSlot = kPartSlots ? 1 : kPanels;
  static constexpr int kSlotsPerTile = kPanels / kPanelsPerSlot;
  static constexpr int kXBytes = kPanelsPerSlot * kPanelBytes;
  static constexpr int kWeightSlotBytes = kPartSlots ? kTileBytes / kPanels : kTileBytes;
  static constexpr int kSlotBytes = kXBytes + kWeightSlotBytes;
  static constexpr int kBarrierBytes = 16 * 4 + 3 * 8;  // full and empty per slot, the stream-K gather's, the cluster's two
  static constexpr int kStages = std::min(4, (kMaxSharedBytes - 1024 - kBarrierBytes) / kSlotBytes);
  static constexpr int kRingBytes = kStages * kSlotBytes;
  static constexpr int kSharedBytes = kRingBytes + kBarrierBytes + 1024;  // + mbarriers, alignment
  static_assert(kStages >= 2, "a ring needs two slots");
  static_assert(!kPartSlots || kStages == 4, "K-half slots are there to keep four");
  static_assert(kClusterSumsBytes<32 * kMmaWarps, N> <= kRingBytes, "a cluster part's sums wait in the ring");
  static_assert(kSlotsPerTile * kPanelsPerSlot == kPanels, "a tile's parts fill its slots");
};

#ifdef PATCHLM_WGMMA
// The per-CTA timeline (kernels/prefill_trace.h): stores where the build asks for them, nothing otherwise.
#if PATCHLM_PREFILL_TRACE
__device__ __forceinline__ std::uint64_t trace_time() {
  std::uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}
__device__ __forceinline__ void trace(int event, std::uint64_t value) {
  if (blockIdx.x < kTraceCtas && event < kTraceEvents) prefill_trace_events[blockIdx.x * kTraceEvents + event] = value;
}
#else
__device__ __forceinline__ std::uint64_t trace_time() { return 0; }
__device__ __forceinline__ void trace(int, std::uint64_t) {}
#endif
__device__ __forceinline__ std::uint64_t trace_clock() { return PATCHLM_PREFILL_TRACE ? clock64() : 0; }

// Registers per thread after setmaxnreg (0: left as launched — 256 threads get 255 anyway). 384 threads get 168 each,
// the producer's needs 40: its share moves to the MMA warps (2 · 128 · 232 + 128 · 40 ≤ 65 536), headroom for the
// accumulators, two metadata words and the stream-K exchange.
constexpr int kProducerRegisters = 40;
// Calls up to this many tokens let the next kernel start early (the producer's allow_next_kernel below).
constexpr int kAllowNextMaxTokens = 128;
template <int Threads>
constexpr int kMmaRegisters = Threads == 384 ? 232 : 0;

// wgmma's descriptor of a K-major operand in swizzled atoms of 8 rows × RowBytes (128: x and dense tiles; 64: the
// kept values of 2:4 tiles): start address, leading offset (unused for swizzled K-major), stride offset (one atom: 8
// rows), swizzle mode (1: 128-byte, 2: 64-byte).
template <int RowBytes = 128>
__device__ __forceinline__ std::uint64_t smem_desc(std::uint32_t addr) {
  static_assert(RowBytes == 128 || RowBytes == 64, "wgmma's 128- or 64-byte swizzle");
  constexpr std::uint64_t kMode = RowBytes == 128 ? 1 : 2;
  return static_cast<std::uint64_t>((addr & 0x3FFFF) >> 4) | static_cast<std::uint64_t>(1) << 16 |
         static_cast<std::uint64_t>(8 * RowBytes >> 4) << 32 | kMode << 62;
}

// The copies of one slot, in two halves: the tile's bytes (issue_slot_weight, which also tells the slot's `full`
// mbarrier how many bytes both halves bring) and the x columns (issue_slot_x). The weight half may go before the
// previous kernel has finished (no kernel writes weights: kernels/dependent_launch.h), x only after.
// x: columns [column · TW + 64 · part, …) of tokens [tok0, tok0 + N) as 64-column swizzled panels (TMA; rows past the
// tokens arrive as zeros) — all TW / 64 of them, or with K-half slots the one of `part`. The tile's bytes (bulk
// copies): a whole tile, or with K-half slots part `part` of it (a dense tile's warpgroup panels, a 2:4 tile's part).
template <int TH, int TW, int N>
__device__ __forceinline__ void issue_slot_weight(const HybridPrefillPlan& p, const TileRef& t, int part,
                                                  std::uint32_t slot, std::uint32_t bar, std::uint32_t x_bytes) {
  using S = Shape<TH, TW, N>;
  const std::uint8_t* tile = p.data + t.offset;
  if constexpr (S::kPartSlots) {
    const int tile_bytes = t.sparse ? sparse_part_bytes(TH) : S::kTileBytes / S::kPanels;
    mbarrier_arrive_expect(bar, x_bytes + tile_bytes);
    if (!t.sparse) {
#pragma unroll
      for (int g = 0; g < TH / 64; ++g)
        bulk_copy(slot + S::kXBytes + g * kDensePanelBytes, tile + dense_panel_offset(g, part, TW), kDensePanelBytes, bar);
    } else {
      bulk_copy(slot + S::kXBytes, tile + sparse_part_offset(part, TH), sparse_part_bytes(TH), bar);
    }
  } else {
    const int tile_bytes = t.sparse ? S::kSparseTileBytes : S::kTileBytes;
    mbarrier_arrive_expect(bar, x_bytes + tile_bytes);
    bulk_copy(slot + S::kXBytes, tile, tile_bytes, bar);
  }
}

template <int TH, int TW, int N>
__device__ __forceinline__ void issue_slot_x(const CUtensorMap* xmap, int column, int part, std::int64_t tok0,
                                             std::uint32_t slot, std::uint32_t bar) {
  using S = Shape<TH, TW, N>;
  if constexpr (S::kPartSlots) {
    tensor_copy(slot, xmap, column * TW + 64 * part, static_cast<int>(tok0), bar);
  } else {
#pragma unroll
    for (int panel = 0; panel < S::kPanels; ++panel)
      tensor_copy(slot + panel * S::kPanelBytes, xmap, column * TW + 64 * panel, static_cast<int>(tok0), bar);
  }
}

// The x-multicast split's x copies of one slot (kernels/x_multicast.h): this rank's slice of each panel the slot
// holds, into every rank's ring (none where the slice lies past the last token).
template <int TH, int TW, int N>
__device__ __forceinline__ void issue_slot_x_slice(const CUtensorMap* xmap, int column, int part, std::int64_t tok0,
                                                   std::uint32_t slot, std::uint32_t bar, const XSlices& x, int rank,
                                                   int multicast) {
  using S = Shape<TH, TW, N>;
  if (rank >= x.live) return;
  const std::uint32_t offset = static_cast<std::uint32_t>(rank * x.rows * kPanelRowBytes);
  const int row = static_cast<int>(tok0) + rank * x.rows;
  const auto everyone = static_cast<std::uint16_t>((1u << multicast) - 1);
#pragma unroll
  for (int panel = 0; panel < S::kPanelsPerSlot; ++panel)
    tensor_copy_multicast(slot + panel * S::kPanelBytes + offset, xmap,
                          column * TW + 64 * (S::kPartSlots ? part : panel), row, bar, everyone);
}

// One 64-column part of a 2:4 tile, at `part_addr` in shared memory (kernels/sparse_tile_layout.h): warp `slice`'s
// metadata word into `e`, the part's two wgmma.sp — A: the kept values of warpgroup slice / 4's 64 rows, B: the x panel
// at `x` — as one group, then wait until only they are still running. wgmma reads `e` while the group runs (ptxas
// neither serialises nor warns): the caller alternates two words and keeps both live with keep_metadata_live after
// every wait, so a word is not overwritten before the wait that retires its group. (Three register sets and
// wgmma.wait_group 2 — with the A fragments then in registers — was up to 12 % slower from 96 tokens up: the ring
// bookkeeping per part cost more issue slots than the fence's wait on the loads, ncu.)
template <int TH, int N>
__device__ __forceinline__ void run_sparse_part(float* acc, std::uint32_t& e, std::uint32_t part_addr, std::uint32_t x,
                                                int slice, int lane) {
  e = load_shared_u32(part_addr + sparse_metadata_offset(0, slice, TH) + 4 * lane);
  const std::uint32_t values = part_addr + sparse_row_offset(64 * (slice / 4));
  wgmma::fence();
  wgmma::Mma<N>::template sparse_ss<0>(acc, smem_desc<kSparseRowBytes>(values), smem_desc(x), e);
  wgmma::Mma<N>::template sparse_ss<1>(acc, smem_desc<kSparseRowBytes>(values + 32), smem_desc(x + 64), e);
  wgmma::commit();
  wgmma::wait<1>();
}

// The two metadata words live to here: called after every wait (as CUTLASS's warpgroup_fence_operand keeps
// accumulators), so the register of a word a running group reads is not given to another value.
__device__ __forceinline__ void keep_metadata_live(std::uint32_t e0, std::uint32_t e1) {
  asm volatile("" ::"r"(e0), "r"(e1));
}

// The dense tile's columns in one slot — all TW / 16 k16 steps, or with K-half slots the 4 of one part — for warpgroup
// `group`'s 64 rows as one group, A and B both through descriptors (the k16 step s of a 64-column panel starts 32·s
// bytes into its swizzled rows, for the weight — kernels/dense_tile_layout.h — as for x), then wait until only they
// are still running. The slot holds the warpgroups' panels in the tile's order (with K-half slots, one per warpgroup).
template <int TH, int TW, int N>
__device__ __forceinline__ void run_dense_slot(float* acc, std::uint32_t slot, int group) {
  using S = Shape<TH, TW, N>;
  const std::uint32_t weight = slot + S::kXBytes + dense_panel_offset(group, 0, 64 * S::kPanelsPerSlot);
  wgmma::fence();
#pragma unroll
  for (int part = 0; part < S::kPanelsPerSlot; ++part)
#pragma unroll
    for (int s = 0; s < 4; ++s)
      wgmma::Mma<N>::dense_ss(acc, smem_desc(weight + part * kDensePanelBytes + 32 * s),
                              smem_desc(slot + part * S::kPanelBytes + 32 * s));
  wgmma::commit();
  wgmma::wait<1>();
}

#endif

// Cluster: the kernel for a cluster split (PrefillWork::cluster > 1), built apart so that the others compile exactly as
// without it (same SASS), and only where prefill_cluster_kernel_built says.
// Multicast: the kernel for the x-multicast split (PrefillWork::multicast > 1; kernels/x_multicast.h), likewise apart.
template <int TH, int TW, int N, bool Cluster, bool Multicast = false>
__global__ void __launch_bounds__(Shape<TH, TW, N>::kThreads, 1)
    prefill_kernel(HybridPrefillPlan p, const __grid_constant__ CUtensorMap xmap, const __grid_constant__ PrefillWork work,
                   std::uint16_t* y, std::int64_t tokens) {
#ifdef PATCHLM_WGMMA
  using S = Shape<TH, TW, N>;
  constexpr int kStages = S::kStages;
  extern __shared__ std::uint8_t shared_raw[];
  const std::uint32_t base = (shared_address(shared_raw) + 1023) & ~std::uint32_t{1023};  // 128-byte swizzle: 1 KB aligned
  const std::uint32_t full = base + S::kRingBytes, empty = full + 8 * kStages, gathered = empty + 8 * kStages;
  // cluster_reduce.h's two barriers follow: gathered + 8 ("ready") and gathered + 16 ("done").
  // MMA warp w (warpgroup w / 4): slice w of a tile. Read through a shuffle so the compiler sees it warp-uniform:
  // otherwise it takes the warp-role branch for a divergent one and serialises the wgmmas after it.
  const int warp = __shfl_sync(0xFFFFFFFF, static_cast<int>(threadIdx.x / 32), 0), lane = threadIdx.x % 32;
  // The x-multicast split walks each row block's tiles in column order, the same columns on every rank.
  const std::uint32_t* tile_desc = Multicast ? p.tile_desc_by_column : p.tile_desc;
  const int multicast = Multicast ? work.multicast : 1;

  if (threadIdx.x == 0) trace(kTraceEntryTime, trace_time()), trace(kTraceEntryClock, trace_clock());
  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      mbarrier_init(full + 8 * s, 1);
      mbarrier_init(empty + 8 * s, S::kMmaWarps * multicast);  // every rank's MMA warps release it
    }
    mbarrier_init(gathered, 1);
    if constexpr (Cluster) {
      mbarrier_init(gathered + 8, work.cluster - 1);
      mbarrier_init(gathered + 16, work.cluster - 1);
    }
    mbarrier_init_fence();
  }
  __syncthreads();  // the last block-wide barrier: the producer warp's other lanes leave
  // A cluster split: every thread of the cluster arrives now, before any leaves; the MMA warps wait for the others'
  // barriers to be set up (cluster_wait) only when they first use them, at the exchange.
  if constexpr (Cluster || Multicast) cluster_arrive_relaxed();

  if (warp >= S::kMmaWarps) {  // the producer warpgroup: thread 0 issues
    if constexpr (kMmaRegisters<S::kThreads> > 0)
      asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(kProducerRegisters));
    if (warp != S::kMmaWarps || lane != 0) return;
    if constexpr (Multicast) cluster_wait_this_thread();  // this rank's copies signal every rank's barriers
    const int rank = Multicast ? cluster_rank() : 0;
    // The first slot's weight bytes go out before the previous kernel in the stream has finished (it may still be
    // writing x), its x after it; every later slot gets both at once. (The first four slots' weights ahead of the
    // wait, their x after it, ran slower: the first slot then completes behind the other three's weights.)
    PrefillWalk<Cluster, Multicast> walk(work, static_cast<int>(blockIdx.x));
    PrefillSegment seg;
    int i = 0;
    while (walk.next(seg)) {
      const OutputTile out = output_tile<Multicast>(work, seg.output);
      const std::int64_t tok0 = static_cast<std::int64_t>(out.token_tile) * N;
      const std::int64_t first = static_cast<std::int64_t>(out.row_block) * work.tiles;
      const XSlices x = Multicast ? x_slices<N>(tok0, tokens, multicast) : XSlices{};
      const std::uint32_t x_bytes = Multicast ? x.panel_bytes * S::kPanelsPerSlot : S::kXBytes;
      for (int k = seg.k_begin; k < seg.k_end; ++k) {
        const TileRef t = tile_ref(tile_desc, first + k);
        for (int part = 0; part < S::kSlotsPerTile; ++part, ++i) {
          const int slot = i % kStages;
          const std::uint32_t slot_addr = base + slot * S::kSlotBytes, bar = full + 8 * slot;
          if (i >= kStages) mbarrier_wait(empty + 8 * slot, static_cast<std::uint32_t>(i / kStages - 1) & 1);
          issue_slot_weight<TH, TW, N>(p, t, part, slot_addr, bar, x_bytes);
          if (i == 0) wait_for_previous_kernel();
          if constexpr (Multicast) issue_slot_x_slice<TH, TW, N>(&xmap, t.column, part, tok0, slot_addr, bar, x, rank, multicast);
          else issue_slot_x<TH, TW, N>(&xmap, t.column, part, tok0, slot_addr, bar);
          if (i == 0) trace(kTraceFirstIssue, trace_clock());
        }
      }
    }
    // Every copy is issued: the next kernel may be scheduled (its CTAs take over the multiprocessors as this grid's
    // exit, and wait for all of it before reading what it wrote) — for short calls only. Measured on an H200 in chains
    // of GEMMs (docs/performance.md, step 19): 1.04-1.15x at 64-128 tokens, but up to 7 % slower at 256-512 tokens on
    // some weights (why was not found); without it a dependent still starts as this grid's last CTAs exit.
    if (tokens <= kAllowNextMaxTokens) allow_next_kernel();
    // The other ranks release this CTA's slots remotely: it stays until each slot's last release has arrived.
    if constexpr (Multicast)
      for (int j = i > kStages ? i - kStages : 0; j < i; ++j)
        mbarrier_wait(empty + 8 * (j % kStages), static_cast<std::uint32_t>(j / kStages) & 1);
    return;
  }

  if constexpr (kMmaRegisters<S::kThreads> > 0)
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;" ::"n"(kMmaRegisters<S::kThreads>));
  // y, the partial sums and the flags may still be in use by the previous kernel in the stream: the MMA warps touch
  // nothing before it has finished (their first slot's x comes after that anyway).
  wait_for_previous_kernel();
  if constexpr (Multicast) cluster_wait();  // the other ranks' barriers are set up before the first release
  PrefillWalk<Cluster, Multicast> walk(work, static_cast<int>(blockIdx.x));
  PrefillSegment seg;
  float acc[N / 2];
  // The metadata words of the last two 2:4 parts' groups (run_sparse_part): a part writes the one the group still
  // running does not read.
  std::uint32_t e0 = 0, e1 = 0;
  // Waits until slot i % stages has been filled for the (i / stages)-th time; its shared-memory address.
  // One arrival per warp on the slot's `empty` barrier; with x multicast on every rank's (the slot is refilled by all).
  const auto release_slot = [&](std::uint32_t bar) {
    if constexpr (Multicast) release_slot_on_every_rank(bar, multicast, lane);
    else if (lane == 0) mbarrier_arrive(bar);
  };
  const auto wait_slot = [&](int i) {
    mbarrier_wait(full + 8 * (i % kStages), static_cast<std::uint32_t>(i / kStages) & 1);
    if (i == 0 && threadIdx.x == 0) trace(kTraceFirstData, trace_clock());
    return base + (i % kStages) * S::kSlotBytes;
  };
  for (int i = 0, traced = 0; walk.next(seg); ++traced) {
    const OutputTile out = output_tile<Multicast>(work, seg.output);
    const int rb = out.row_block;
    const int event = traced < kTraceMaxSegments ? kTraceSegments + 4 * traced : kTraceEvents;
    if (threadIdx.x == 0)
      trace(event, static_cast<std::uint64_t>(seg.kind) | static_cast<std::uint64_t>(seg.k_end - seg.k_begin) << 8 |
                       static_cast<std::uint64_t>(seg.end_contributor - seg.first_contributor) << 16 |
                       static_cast<std::uint64_t>(seg.output) << 32);
    const std::int64_t tok0 = static_cast<std::int64_t>(out.token_tile) * N;
    const std::int64_t first = static_cast<std::int64_t>(rb) * work.tiles;
#pragma unroll
    for (int v = 0; v < N / 2; ++v) acc[v] = 0.f;
    // Each tile's kind is read one step ahead: the global load's latency then hides behind a whole tile's wgmmas
    // instead of sitting between the slot's barrier and its first wgmma.
    bool next_sparse = seg.k_begin < seg.k_end && tile_ref(tile_desc, first + seg.k_begin).sparse;
    for (int k = seg.k_begin; k < seg.k_end; ++k) {
      // Through a shuffle, as `warp`: a branch the compiler takes for divergent also serialises the wgmmas.
      const bool sparse = __shfl_sync(0xFFFFFFFF, static_cast<int>(next_sparse), 0) != 0;
      if (k + 1 < seg.k_end) next_sparse = tile_ref(tile_desc, first + k + 1).sparse;
      // Once a slot's group is issued and all but it have completed, the previous slot is free to be refilled.
      const bool release = k > seg.k_begin;
      if constexpr (S::kPartSlots) {
        // K-half slots: each slot holds one part of the tile.
#pragma unroll
        for (int part = 0; part < S::kSlotsPerTile; ++part, ++i) {
          const std::uint32_t slot_addr = wait_slot(i);
          if (!sparse) run_dense_slot<TH, TW, N>(acc, slot_addr, warp / 4);
          else run_sparse_part<TH, N>(acc, part == 0 ? e0 : e1, slot_addr + S::kXBytes, slot_addr, warp, lane);
          keep_metadata_live(e0, e1);
          if (release || part > 0) release_slot(empty + 8 * ((i + kStages - 1) % kStages));
        }
        continue;
      }
      const std::uint32_t slot_addr = wait_slot(i);
      const std::uint32_t previous = empty + 8 * ((i + kStages - 1) % kStages);
      const std::uint32_t weight = slot_addr + S::kXBytes;
      if (!sparse) {
        run_dense_slot<TH, TW, N>(acc, slot_addr, warp / 4);
        keep_metadata_live(e0, e1);
        if (release) release_slot(previous);
      } else if constexpr (S::kPanels == 2) {
        run_sparse_part<TH, N>(acc, e0, weight, slot_addr, warp, lane);
        keep_metadata_live(e0, e1);
        if (release) release_slot(previous);
        run_sparse_part<TH, N>(acc, e1, weight + sparse_part_offset(1, TH), slot_addr + S::kPanelBytes, warp, lane);
        keep_metadata_live(e0, e1);
      } else {
        // One part per tile: the metadata words alternate with the tile's parity (the tile still running reads the
        // other, or none if it is dense).
        if ((k - seg.k_begin) % 2 == 0) run_sparse_part<TH, N>(acc, e0, weight, slot_addr, warp, lane);
        else run_sparse_part<TH, N>(acc, e1, weight, slot_addr, warp, lane);
        keep_metadata_live(e0, e1);
        if (release) release_slot(previous);
      }
      ++i;
    }
    wgmma::wait<0>();
    keep_metadata_live(e0, e1);
    if (threadIdx.x == 0) trace(event + 1, trace_clock());
    if (seg.k_end > seg.k_begin) release_slot(empty + 8 * ((i + kStages - 1) % kStages));
    constexpr int kMmaThreads = 32 * S::kMmaWarps;
    if (seg.kind == PrefillSegment::contribute) {
      const int own = walk.exchange_slot();  // this CTA's slot; with x multicast by rank, then cluster
      contribute<kMmaThreads, N>(acc, contribution_slot<kMmaThreads, N>(p.partials, own), p.flags + own);
      if (threadIdx.x == 0) trace(event + 2, trace_clock());
      continue;
    }
    if (Cluster && seg.kind == PrefillSegment::cluster_part) {  // the CTA's last segment: its ring is idle
      // The sums go to the ring and the accumulators are done with; each 8-token group of this rank's slice is then
      // added up from every rank's ring (a loop, not unrolled: few registers live) and written.
      cluster_wait();
      const std::uint32_t ready = gathered + 8, done = gathered + 16;
      const int rank = cluster_rank();  // = seg.cluster_rank (a check with __trap made ptxas serialise the wgmmas at N = 256)
      cluster_publish<kMmaThreads, N>(acc, base, ready, rank, work.cluster);
      if (threadIdx.x == 0) trace(event + 2, trace_clock());
      const ColumnSlice slice = cluster_column_slice<N>(rank, work.cluster);
#pragma unroll 1
      for (int j = slice.begin; j < slice.end; ++j)
        store_group(cluster_sum<kMmaThreads>(base, j, work.cluster), j, y, p.rows, static_cast<std::int64_t>(rb) * TH,
                    tok0, tokens, warp, lane);
      cluster_read_done<kMmaThreads>(done, rank, work.cluster);
      if (threadIdx.x == 0) trace(event + 3, trace_clock()), cluster_release_wait(done);
      continue;
    }
    if (seg.kind == PrefillSegment::finish)
      gather<kMmaThreads, N, S::kRingBytes>(acc, p.partials, p.flags, seg.first_contributor, seg.end_contributor, base,
                                            gathered);
    if (threadIdx.x == 0) trace(event + 2, trace_clock());
    store_tile<N>(acc, y, p.rows, static_cast<std::int64_t>(rb) * TH, tok0, tokens, warp, lane);
    if (threadIdx.x == 0) trace(event + 3, trace_clock());
  }
  if (threadIdx.x == 0) trace(kTraceExitClock, trace_clock()), trace(kTraceExitTime, trace_time());
#else
  (void)p, (void)xmap, (void)work, (void)y, (void)tokens;
#endif
}

// The model the plan's rule prices with (its launch's capture, switches and weight).
PrefillCostModel rule_model(const HybridPrefillPlan& p) {
  return prefill_rule_model(p.rule);
}

int tokens_per_tile(const HybridPrefillPlan& p, std::int64_t tokens) {
  if (p.tokens_per_tile != 0) return p.tokens_per_tile;
  return prefill_tokens_per_tile(p.tile_height, p.tile_width, tokens, p.rows, p.cols, p.multiprocessors, rule_model(p));
}

bool tokens_per_tile_supported(const HybridPrefillPlan& p) {
  return p.tokens_per_tile == 0 || prefill_tokens_per_tile_built(p.tile_height, p.tile_width, p.tokens_per_tile);
}

// The work split at n tokens per tile (tokens_per_tile's, computed once by the caller: it prices every candidate)
// with the stream-K shares in equal steps: what sizes the workspace (weighing moves boundaries only).
PrefillWork even_work_for(const HybridPrefillPlan& p, std::int64_t tokens, int n) {
  return prefill_work(tokens, n, p.rows, p.cols, p.tile_height, p.tile_width, p.multiprocessors, p.split, rule_model(p));
}

// The split a launch runs: its shares weighed by cost where the plan has the weight's step costs; whole tiles in
// place of x multicast where the plan lacks the column-order tile table.
PrefillWork work_for(const HybridPrefillPlan& p, std::int64_t tokens, int n) {
  PrefillWork w = even_work_for(p, tokens, n);
  if (w.multicast > 1 && p.tile_desc_by_column == nullptr) {
    HybridPrefillPlan whole = p;
    whole.split = PrefillSplit::whole;
    w = even_work_for(whole, tokens, n);
  }
  if (p.row_cost_prefix != nullptr) weigh_stream_k_split(w, p.row_cost_prefix);
  return w;
}

// x [tokens, cols] bf16 as TMA sees it: boxes of 64 columns (128 bytes, one swizzle atom row) × n tokens (N, or an
// x-multicast rank's slice of N).
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

template <int TH, int TW, int N, bool Cluster, bool Multicast = false>
std::string launch_kernel(const HybridPrefillPlan& p, const CUtensorMap& xmap, PrefillWork work, void* y, std::int64_t tokens,
                          cudaStream_t stream) {
  using S = Shape<TH, TW, N>;
  auto kernel = prefill_kernel<TH, TW, N, Cluster, Multicast>;
  static std::atomic<std::uint64_t> shared_memory_set_on{0};
  if (const cudaError_t e = allow_shared_memory(kernel, S::kSharedBytes, shared_memory_set_on); e != cudaSuccess)
    return std::string("hybrid prefill: ") + cudaGetErrorString(e);
  if constexpr (Cluster || Multicast) {
    // Clusters never wait for each other, but those the GPU cannot hold at once would run after the rest (GPCs differ in
    // SMs): the split again for as many CTAs as there are, in whole clusters — the cluster split's tail (the new split's
    // cluster size may differ; it is not re-checked), or the x-multicast split's waves (same cluster size, so the x
    // map's box of N / multicast rows stays right), its last wave whole: the stream-K workspace was sized for the split
    // asked for, and a multicast stream-K finisher must not wait for a cluster that is not running.
    const int size = Cluster ? work.cluster : work.multicast;
    static ResidentClusters<kMaxClusterCtas> resident;
    const int fit = resident_clusters(kernel, size, S::kThreads, S::kSharedBytes, stream, resident);
    if (fit > 0 && fit * size < work.ctas) {
      HybridPrefillPlan fewer = p;
      fewer.multiprocessors = fit * size;
      // The same kind of split (or whole tiles): this call has no stream-K workspace.
      fewer.split = Cluster ? PrefillSplit::cluster : size == 2 ? PrefillSplit::multicast_2 : PrefillSplit::multicast_4;
      work = work_for(fewer, tokens, N);
      if constexpr (Cluster)
        if (work.cluster == 1) return launch_kernel<TH, TW, N, false>(p, xmap, work, y, tokens, stream);
    }
  }
  cudaLaunchAttribute attributes[2];
  cudaLaunchConfig_t config =
      dependent_launch_config(dim3(static_cast<unsigned>(work.ctas)), dim3(S::kThreads), S::kSharedBytes, stream, attributes);
  if (Cluster) attributes[config.numAttrs++] = cluster_attribute(work.cluster);
  if (Multicast) attributes[config.numAttrs++] = cluster_attribute(work.multicast);
  cudaLaunchKernelEx(&config, kernel, p, xmap, work, static_cast<std::uint16_t*>(y), tokens);
  const cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? std::string() : std::string("hybrid prefill: ") + cudaGetErrorString(e);
}

template <int TH, int TW, int N>
std::string launch(const HybridPrefillPlan& p, const void* x, void* y, std::int64_t tokens, cudaStream_t stream) {
  const PrefillWork work = work_for(p, tokens, N);
  CUtensorMap xmap;
  if (std::string why = encode_x_map(&xmap, x, tokens, p.cols, N / work.multicast); !why.empty()) return why;
  if (work.split_tail && work.cluster == 1 && (p.partials == nullptr || p.flags == nullptr))
    return "hybrid prefill: stream-K needs the partial-sum slots and flags";
  if (work.multicast > 1) {
    if constexpr (prefill_multicast_kernel_built(TH, TW, N))
      return launch_kernel<TH, TW, N, false, true>(p, xmap, work, y, tokens, stream);
    return "hybrid prefill: no x-multicast kernel with " + std::to_string(N) + " tokens per tile";
  }
  if (work.cluster > 1) {
    if constexpr (prefill_cluster_kernel_built(TH, TW, N)) return launch_kernel<TH, TW, N, true>(p, xmap, work, y, tokens, stream);
    return "hybrid prefill: no cluster split kernel with " + std::to_string(N) + " tokens per tile";
  }
  return launch_kernel<TH, TW, N, false>(p, xmap, work, y, tokens, stream);
}

// 128x128 weight tiles: the kernel for N = n, one of kTokensPerTileChoices.
template <int... I>
std::string launch_128x128(const HybridPrefillPlan& p, const void* x, void* y, std::int64_t tokens, cudaStream_t stream,
                           int n, std::integer_sequence<int, I...>) {
  std::string result = "hybrid prefill: no kernel with " + std::to_string(n) + " tokens per tile";
  ((n == kTokensPerTileChoices[I] && (result = launch<128, 128, kTokensPerTileChoices[I]>(p, x, y, tokens, stream), true)) ||
   ...);
  return result;
}

}  // namespace

#if PATCHLM_PREFILL_TRACE
std::vector<std::uint64_t> prefill_trace_take() {
  std::vector<std::uint64_t> events(kTraceCtas * kTraceEvents);
  cudaDeviceSynchronize();
  cudaMemcpyFromSymbol(events.data(), prefill_trace_events, events.size() * sizeof(std::uint64_t));
  const std::vector<std::uint64_t> zeros(events.size(), 0);
  cudaMemcpyToSymbol(prefill_trace_events, zeros.data(), zeros.size() * sizeof(std::uint64_t));
  return events;
}
#endif

HybridPrefillWorkspace hybrid_prefill_workspace(const HybridPrefillPlan& p, std::int64_t tokens) {
  if (tokens <= 0 || !hybrid_prefill_tile_supported(p.tile_height, p.tile_width) || !tokens_per_tile_supported(p)) return {};
  const int n = tokens_per_tile(p, tokens);
  const PrefillWork work = even_work_for(p, tokens, n);
  if (!work.split_tail || work.cluster > 1) return {};  // whole tiles, or a cluster split: no global exchange
  return {static_cast<std::int64_t>(work.stream_ctas) * p.tile_height * n, work.stream_ctas};
}

bool hybrid_prefill_tile_supported(int th, int tw) { return (th == 128 || th == 64) && (tw == 128 || tw == 64); }

std::string hybrid_prefill(const HybridPrefillPlan& p, const void* x, void* y, std::int64_t tokens, void* stream) {
  if (!hybrid_prefill_tile_supported(p.tile_height, p.tile_width))
    return "hybrid prefill: no kernel for " + std::to_string(p.tile_height) + "x" + std::to_string(p.tile_width) + " tiles";
  if (!tokens_per_tile_supported(p))
    return "hybrid prefill: no kernel with " + std::to_string(p.tokens_per_tile) + " tokens per tile for " +
           std::to_string(p.tile_height) + "x" + std::to_string(p.tile_width) + " tiles (0 or 128; 128x128 tiles 0 or one of " + prefill_tokens_per_tile_choices_text() + ")";
  if (reinterpret_cast<std::uintptr_t>(x) % 16 != 0 || reinterpret_cast<std::uintptr_t>(y) % 16 != 0)
    return "hybrid prefill: x and y must be 16-byte aligned";
  if (tokens <= 0) return {};
  const auto s = static_cast<cudaStream_t>(stream);
  if (prefill_has_small_and_large_tiles(p.tile_height, p.tile_width))
    return launch_128x128(p, x, y, tokens, s, tokens_per_tile(p, tokens),
                          std::make_integer_sequence<int, std::size(kTokensPerTileChoices)>{});
  if (p.tile_height == 128) return launch<128, 64, kTokensPerTile>(p, x, y, tokens, s);
  if (p.tile_width == 128) return launch<64, 128, kTokensPerTile>(p, x, y, tokens, s);
  return launch<64, 64, kTokensPerTile>(p, x, y, tokens, s);
}

}  // namespace patchlm::kernels
