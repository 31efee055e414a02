#pragma once
// The x-multicast split of the prefill kernel (hybrid_prefill.cu; kernels/prefill_split.h PrefillSplit::multicast_2 /
// multicast_4): the `multicast` CTAs of a thread-block cluster compute neighbouring row blocks of one token tile and
// walk their K steps together, column by column, so each step needs the same x panel in every rank's ring. Each
// rank's producer loads one slice of the panel's token rows (N / multicast rows: whole 8-row swizzle atoms, so the
// slice lands exactly where the whole panel's TMA box would put it) with a multicast TMA copy into the same ring slot
// of every rank, counted on each rank's `full` mbarrier: x crosses from L2 once per cluster instead of once per CTA
// (the L2 → SM bytes of a 2:4 step at 256 tokens: 32 KB of x against 9 KB of weight).
// Consequences the kernel keeps:
//   - a slot may be refilled only when every rank's MMA warps are done with it (each rank's copy writes into all
//     rings): each MMA warp releases a slot on every rank's `empty` barrier (release_slot_on_every_rank), which
//     expects kMmaWarps × multicast arrivals;
//   - a CTA leaves only after the other ranks' last releases have arrived on its barriers (the producer waits for
//     every slot's last release), and issues its first copy only after every rank has set up its barriers;
//   - slices wholly past the last token are not loaded (and not expected): whether TMA counts a box that lies entirely
//     out of bounds is not something to rely on. Their rows keep stale values; those tokens are never stored.
// Device code (sm_90), included from .cu files.
#include <cuda.h>

#include <cstdint>

#include "kernels/cluster_reduce.h"

namespace patchlm::kernels {

// TMA multicast: the box of a 2-D tensor map at (column, row) into shared memory at `dst` of every CTA of the cluster
// in `cta_mask`, counted on each one's mbarrier at `bar` (the same shared-memory offsets in each).
__device__ __forceinline__ void tensor_copy_multicast(std::uint32_t dst, const CUtensorMap* map, int column, int row,
                                                      std::uint32_t bar, std::uint16_t cta_mask) {
#if __CUDA_ARCH__ >= 900
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes.multicast::cluster [%0], [%1, {%2, "
      "%3}], [%4], %5;" ::"r"(dst),
      "l"(reinterpret_cast<std::uint64_t>(map)), "r"(column), "r"(row), "r"(bar), "h"(cta_mask)
      : "memory");
#endif
}

// cluster_wait for one thread whose warp's other lanes have left (the producer's issuing thread).
__device__ __forceinline__ void cluster_wait_this_thread() { asm volatile("barrier.cluster.wait;" ::: "memory"); }

// The slices of one output tile's x panels: `rows` token rows each (the tensor map's box height), the first `live`
// of them holding tokens (the rest are not loaded), `panel_bytes` of each panel arriving in every rank.
struct XSlices {
  int rows = 0, live = 0;
  std::uint32_t panel_bytes = 0;
};
template <int N>
__device__ __forceinline__ XSlices x_slices(std::int64_t tok0, std::int64_t tokens, int multicast) {
  XSlices s;
  s.rows = N / multicast;
  const std::int64_t left = (tokens - tok0 + s.rows - 1) / s.rows;
  s.live = static_cast<int>(left < multicast ? left : multicast);
  s.panel_bytes = static_cast<std::uint32_t>(s.live * s.rows * 128);
  return s;
}

// One MMA warp's release of a ring slot (the slot's `empty` barrier at `bar`) on every rank of the cluster: lane r
// arrives on rank r's. With the default .release.cta semantics, as CUTLASS's cluster barriers: the slot's readers were
// this warp's wgmmas, already waited for, so nothing needs publishing — cluster_reduce.h's arrive_on_peer
// (.release.cluster, for sums written to shared memory) compiles to MEMBAR.ALL.GPU before every arrival, which made
// the multicast kernel 1.3–2.5× slower than the plain one on an H100 (docs/performance.md, step 26).
__device__ __forceinline__ void release_slot_on_every_rank(std::uint32_t bar, int multicast, int lane) {
  if (lane < multicast)
    asm volatile("mbarrier.arrive.shared::cluster.b64 _, [%0];" ::"r"(peer_shared_address(bar, lane)) : "memory");
}

}  // namespace patchlm::kernels
