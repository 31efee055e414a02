#pragma once
// The cluster split's exchange (prefill_split.h, PrefillSplit::cluster) in the prefill kernel (hybrid_prefill.cu): the
// CTAs of one thread-block cluster each computed a run of one output tile's K steps. Each leaves its fp32 sums in its
// own copy ring (idle by then: a cluster part is a CTA's last segment) and tells the other ranks; each rank then adds
// one slice of the tile's token columns from every rank through distributed shared memory — in rank order, so the
// result does not depend on who finished first — and writes that slice to y; it tells each rank when it has read its
// sums, and a CTA leaves only once every other rank has (its shared memory must outlive their reads).
// No global workspace, no flags, no atomics, and no wait on a CTA outside the cluster, whose CTAs are scheduled
// together. Run by the MMA warps only (MmaThreads of them, thread 0 the one that signals). Device code (sm_90),
// included from .cu files.
#include <cstdint>

#include "kernels/async_copy.h"
#include "kernels/prefill_split.h"
#include "kernels/stream_k_exchange.h"

namespace patchlm::kernels {

// This CTA's rank in its cluster.
__device__ __forceinline__ int cluster_rank() {
  std::uint32_t rank;
  asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(rank));
  return static_cast<int>(rank);
}

// Every thread of every CTA of the cluster arrives (relaxed: it only orders the mbarrier set-up, which
// fence.mbarrier_init releases) — once, at the start, before any thread exits; cluster_wait blocks until all have.
__device__ __forceinline__ void cluster_arrive_relaxed() { asm volatile("barrier.cluster.arrive.relaxed.aligned;" ::: "memory"); }
__device__ __forceinline__ void cluster_wait() { asm volatile("barrier.cluster.wait.aligned;" ::: "memory"); }

// The address of the same shared-memory location in the CTA of rank `rank` (a shared::cluster address).
__device__ __forceinline__ std::uint32_t peer_shared_address(std::uint32_t local, int rank) {
  std::uint32_t remote;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(remote) : "r"(local), "r"(rank));
  return remote;
}

// One arrival on the mbarrier at `local`'s place in rank `rank`'s shared memory, releasing this thread's (and, after
// a barrier, its CTA's) earlier memory operations to that CTA.
__device__ __forceinline__ void arrive_on_peer(std::uint32_t local, int rank) {
  asm volatile("mbarrier.arrive.release.cluster.shared::cluster.b64 _, [%0];" ::"r"(peer_shared_address(local, rank))
               : "memory");
}

// Waits until this CTA's mbarrier `bar` completed the phase of this parity, acquiring what the arrivals released.
__device__ __forceinline__ void mbarrier_wait_cluster(std::uint32_t bar, std::uint32_t parity) {
  asm volatile(
      "{\n.reg .pred p;\nretry:\nmbarrier.try_wait.parity.acquire.cluster.shared::cta.b64 p, [%0], %1;\n@!p bra retry;\n}\n" ::"r"(
          bar),
      "r"(parity)
      : "memory");
}

__device__ __forceinline__ float4 load_peer_v4(std::uint32_t addr) {
  float4 v;
  asm volatile("ld.shared::cluster.v4.f32 {%0, %1, %2, %3}, [%4];" : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w) : "r"(addr));
  return v;
}

// The bytes of one rank's sums in its ring: every MMA thread's N / 2 accumulators.
template <int MmaThreads, int N>
constexpr int kClusterSumsBytes = N / 2 * MmaThreads * 4;

// The token columns a rank adds up and writes: 8-column groups [begin, end) of the tile's N / 8, split as evenly as
// they go.
struct ColumnSlice {
  int begin, end;
};
template <int N>
__device__ __forceinline__ ColumnSlice cluster_column_slice(int rank, int cluster) {
  return {N / 8 * rank / cluster, N / 8 * (rank + 1) / cluster};
}

// The exchange (rank `rank` of `cluster`: cluster_rank(), which the walk's blockIdx.x mod cluster equals; the sums
// are right whichever CTA computed which share, as long as the ranks name the cluster's CTAs), in three calls: cluster_publish puts this CTA's sums into its ring at
// `sums` — accumulator group j (acc[4j … 4j + 3], token columns 8j …) of thread t at sums + 16 · (j · MmaThreads + t),
// so that a warp's 16-byte loads are contiguous — and waits until every rank's are there (`ready`, expecting cluster −
// 1 arrivals); cluster_sum adds group j of this thread from every rank, in rank order, for each group of the rank's
// column slice; cluster_read_done tells the other ranks that this one has read their sums (their `done`). Both
// barriers are used once per call; thread 0 must wait on `done` (cluster_release_wait) before the CTA exits.
template <int MmaThreads, int N>
__device__ __forceinline__ void cluster_publish(const float* acc, std::uint32_t sums, std::uint32_t ready, int rank,
                                                int cluster) {
  // Both warpgroups' last wgmmas, which read the ring, are over before it takes the sums.
  mma_warps_sync<MmaThreads>();
  const std::uint32_t mine = sums + 16 * threadIdx.x;
#pragma unroll
  for (int j = 0; j < N / 8; ++j)
    asm volatile("st.shared.v4.f32 [%0], {%1, %2, %3, %4};" ::"r"(mine + 16 * j * MmaThreads), "f"(acc[4 * j]),
                 "f"(acc[4 * j + 1]), "f"(acc[4 * j + 2]), "f"(acc[4 * j + 3])
                 : "memory");
  // The barrier orders every MMA thread's stores before thread 0's release (cumulative), as in stream_k_exchange.h.
  mma_warps_sync<MmaThreads>();
  if (threadIdx.x == 0)
    for (int r = 0; r < cluster; ++r)
      if (r != rank) arrive_on_peer(ready, r);
  mbarrier_wait_cluster(ready, 0);
}

// Group j of this thread's accumulators summed over the ranks 0 … cluster − 1 (this one's own from its ring too: the
// same bits whichever rank adds them up).
// Every rank's load is issued before the first is used: one after another, each waited for, they took 2.8 µs for a
// 104-token tile in clusters of 4 (per-CTA timeline, H200, docs/performance.md step 22).
template <int MmaThreads>
__device__ __forceinline__ float4 cluster_sum(std::uint32_t sums, int j, int cluster) {
  const std::uint32_t mine = sums + 16 * (j * MmaThreads + threadIdx.x);
  float4 v[kMaxClusterCtas];
#pragma unroll
  for (int r = 0; r < kMaxClusterCtas; ++r)
    if (r < cluster) v[r] = load_peer_v4(peer_shared_address(mine, r));
  float4 total = v[0];
#pragma unroll
  for (int r = 1; r < kMaxClusterCtas; ++r)
    if (r < cluster) total.x += v[r].x, total.y += v[r].y, total.z += v[r].z, total.w += v[r].w;
  return total;
}

template <int MmaThreads>
__device__ __forceinline__ void cluster_read_done(std::uint32_t done, int rank, int cluster) {
  // Every MMA thread's loads from the other ranks are done before thread 0 tells them so.
  mma_warps_sync<MmaThreads>();
  if (threadIdx.x == 0)
    for (int r = 0; r < cluster; ++r)
      if (r != rank) arrive_on_peer(done, r);
}

// Thread 0, before its CTA exits: every other rank has read this CTA's sums.
__device__ __forceinline__ void cluster_release_wait(std::uint32_t done) { mbarrier_wait_cluster(done, 0); }

}  // namespace patchlm::kernels
