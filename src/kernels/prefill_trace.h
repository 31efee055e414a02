#pragma once
// A per-CTA timeline of the wgmma prefill kernel (hybrid_prefill.cu): where a call's time goes — the ramp to the first
// slot, the rate of K steps, stream-K's contributions and finishers — which ncu's averages over the SMs do not show.
// Built only with `cmake -DPATCHLM_PREFILL_TRACE=ON` (the stores cost ~2 % and are not in a normal build);
// `patchlm bench gemm --prefill-trace DIR` then writes one JSON per case and scripts/prefill_trace.py sums them up.
// Thread 0 of each CTA (the first MMA thread; the producer thread for the first issue) records, per CTA c, in
// events[c · kTraceEvents + e]: globaltimer (ns) at entry and exit, and clock64 at the other events.
#include <cstdint>
#include <vector>

#ifndef PATCHLM_PREFILL_TRACE
#define PATCHLM_PREFILL_TRACE 0
#endif

namespace patchlm::kernels {

constexpr int kTraceCtas = 256, kTraceEvents = 32;
enum PrefillTraceEvent : int {
  kTraceEntryTime = 0,    // globaltimer, ns
  kTraceEntryClock = 1,   // clock64 at entry: the other clocks count from it
  kTraceFirstData = 2,    // the MMA warps' first slot has landed
  kTraceExitClock = 3,
  kTraceSegments = 4,     // 4 per segment, the first kTraceMaxSegments: kind | steps << 8 | contributors << 16 |
                          // output tile << 32, then the clocks when its MMAs completed, its sums were exchanged
                          // (contribution written / contributors gathered) and its tile stored
  kTraceMaxSegments = 6,
  kTraceFirstIssue = 28,  // the producer issued the first slot's copies
  kTraceExitTime = 31,    // globaltimer, ns
};

#if PATCHLM_PREFILL_TRACE
// The events of the last call(s) since the previous take, [kTraceCtas][kTraceEvents] (zero where not reached); clears
// them. Synchronises the device.
std::vector<std::uint64_t> prefill_trace_take();
#endif

}  // namespace patchlm::kernels
