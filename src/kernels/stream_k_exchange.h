#pragma once
// The stream-K exchange of the prefill kernel (hybrid_prefill.cu; the split itself: prefill_work.h): a CTA whose share
// starts inside an output tile leaves its fp32 sums in its partial slot and raises its flag; the CTA holding the tile's
// first steps waits for those flags, adds the sums and writes the tile — no atomics, no zeroed buffer, no second
// kernel. Run by the MMA warps only (MmaThreads of them, thread 0 the one that signals). Device code (sm_90: bulk
// copies and proxy fences), included from .cu files.
#include <cstdint>

#include "kernels/async_copy.h"

namespace patchlm::kernels {

// Named barrier 1 over the MMA warps only (the producer warpgroup has left; barrier 0 is __syncthreads).
template <int Threads>
__device__ __forceinline__ void mma_warps_sync() {
  asm volatile("bar.sync 1, %0;" ::"n"(Threads) : "memory");
}

// CTA c's partial slot in `partials` (hybrid_prefill_workspace allocates one per stream-K CTA): every MMA thread's
// N / 2 accumulators, in register order.
template <int MmaThreads, int N>
constexpr int kContributionFloats = N / 2 * MmaThreads;
template <int MmaThreads, int N, class Float>
__device__ __forceinline__ Float* contribution_slot(Float* partials, std::int64_t c) {
  return partials + c * kContributionFloats<MmaThreads, N>;
}

// A stream-K contribution: this CTA's fp32 sums into its partial slot (each thread its own accumulators, in register
// order: coalesced, and read back by the same thread of the finishing CTA), then the flag, released at GPU scope.
template <int MmaThreads, int N>
__device__ __forceinline__ void contribute(const float* acc, float* slot, int* flag) {
#pragma unroll
  for (int v = 0; v < N / 2; ++v) slot[v * MmaThreads + threadIdx.x] = acc[v];
  // The barrier orders every MMA thread's stores before thread 0's release (cumulative), so no thread needs a fence
  // of its own — __threadfence per thread was 5 % of the stall samples at 64 tokens (ncu).
  mma_warps_sync<MmaThreads>();
  if (threadIdx.x == 0) asm volatile("st.release.gpu.global.b32 [%0], %1;" ::"l"(flag), "r"(1) : "memory");
}

// Waits (one thread) until a contributor's flag is up — acquiring its partial sums — and lowers it for the next call.
__device__ __forceinline__ void take_flag(int* flag) {
  int up = 0;
  do asm volatile("ld.acquire.gpu.global.b32 %0, [%1];" : "=r"(up) : "l"(flag) : "memory");
  while (up == 0);
  *flag = 0;
}

// The finishing CTA of a split tile adds each contributor's partial sums (once its flag is up) and lowers the flag
// for the next call — by one of the two gathers below, as the ring's size allows (gather).
template <int MmaThreads, int N>
__device__ __forceinline__ void gather_in_registers(float* acc, const float* partials, int* flags, int first, int end) {
  for (int c = first; c < end; ++c) {
    if (threadIdx.x == 0) take_flag(flags + c);
    mma_warps_sync<MmaThreads>();
    const float* slot = contribution_slot<MmaThreads, N>(partials, c);
#pragma unroll
    for (int v = 0; v < N / 2; ++v) acc[v] += __ldcg(slot + v * MmaThreads + threadIdx.x);
  }
}

// A finish is always the last segment of a CTA's walk (prefill_work.h), so the ring is idle by then, and `bar` is used
// once: the contributors' slots come into the ring by bulk copies, each as soon as its flag is up — all in flight at
// once — and each thread adds its own values from shared memory (the slot's register order: conflict-free). For at
// most as many contributions as the ring holds.
template <int MmaThreads, int N>
__device__ __forceinline__ void gather_through_ring(float* acc, const float* partials, int* flags, int first, int end,
                                                    std::uint32_t ring, std::uint32_t bar) {
  constexpr int kContributionBytes = kContributionFloats<MmaThreads, N> * 4;
  // Every warpgroup's wgmmas and fragment loads from the ring are over before the copy engine overwrites it.
  mma_warps_sync<MmaThreads>();
  if (threadIdx.x == 0) {
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");  // the ring's generic reads before async writes
    mbarrier_arrive_expect(bar, static_cast<std::uint32_t>((end - first) * kContributionBytes));
    for (int c = first; c < end; ++c) {
      take_flag(flags + c);
      // The contributor's sums were written through the generic proxy; the copy engine reads through the async one.
      asm volatile("fence.proxy.async.global;" ::: "memory");
      bulk_copy(ring + (c - first) * kContributionBytes, contribution_slot<MmaThreads, N>(partials, c), kContributionBytes,
                bar);
    }
  }
  mbarrier_wait(bar, 0);
  for (int c = 0; c < end - first; ++c) {
    const std::uint32_t slot = ring + c * kContributionBytes + 4 * threadIdx.x;
#pragma unroll
    for (int v = 0; v < N / 2; ++v) acc[v] += __uint_as_float(load_shared_u32(slot + 4 * v * MmaThreads));
  }
}

// Through the ring where it holds all the tile's contributions and at least three (N ≤ 128), in registers otherwise.
// On an H200 (docs/performance.md, step 20) the ring took 1.02× off calls of 64 tokens and up to 1.05× at 96; where it
// holds only one or two (N ≥ 136; timed at 160 and 192, in batches) it was up to 4 % slower than the register loads.
template <int MmaThreads, int N, int RingBytes>
__device__ __forceinline__ void gather(float* acc, const float* partials, int* flags, int first, int end,
                                       std::uint32_t ring, std::uint32_t bar) {
  constexpr int kRingHolds = RingBytes / (kContributionFloats<MmaThreads, N> * 4);
  if constexpr (kRingHolds >= 3) {
    if (end - first <= kRingHolds) return gather_through_ring<MmaThreads, N>(acc, partials, flags, first, end, ring, bar);
  }
  gather_in_registers<MmaThreads, N>(acc, partials, flags, first, end);
}

}  // namespace patchlm::kernels
