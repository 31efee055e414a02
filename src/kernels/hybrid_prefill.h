#pragma once
// The hybrid dense / 2:4 GEMM for many tokens (batched decode, prefill) on Hopper (sm_90a): y[m, rows] = x[m, cols] ·
// Wᵀ for a weight packed by io/hybrid_layout, as it lies on the device (docs/format.md "On the GPU"). Swap-AB as in
// the decode kernel: the weight is wgmma's A operand, from shared memory through a descriptor — upload_hybrid rewrote
// every tile into wgmma's swizzled layout: dense tiles for wgmma m64nNk16, each 64-column part of a 2:4 tile (its kept
// values, then its metadata words) for wgmma.sp m64nNk32, the metadata word of each warp's 16 rows the only register
// operand, the sparsity selector picking the thread pair. No A fragment loads, no fence waiting on them. Both
// accumulate into the same registers.
// Persistent CTAs, one per multiprocessor (kernels/prefill_work.h: waves of whole output tiles, the last one whole or
// stream-K, and the tokens per tile, as a cost model prices them); in each, one thread of a producer warpgroup fills
// a ring in shared memory by TMA (the tokens' x columns, 128-byte swizzled, read by wgmma through a descriptor) and
// bulk copies (the tile's packed bytes), and one warpgroup per 64 weight rows runs the wgmmas (hybrid_prefill.cu says
// how the two hand slots back and forth).
// No CUDA types here (C++17), so torch-side code includes it freely.
#include <cstdint>
#include <string>

#include "kernels/prefill_work.h"

namespace patchlm::kernels {

struct HybridPrefillPlan {
  const std::uint8_t* data = nullptr;        // packed tiles (device), dense tiles in the device layout
  const std::uint32_t* tile_desc = nullptr;  // [2 · tile_count] (device): kernels/hybrid_schedule.h's tile_desc
  // The same in column order (device; hybrid_schedule.h's tile_desc_by_column), which the x-multicast split walks;
  // null: that split is not taken (whole tiles instead).
  const std::uint32_t* tile_desc_by_column = nullptr;
  std::int64_t rows = 0, cols = 0;
  int tile_height = 128, tile_width = 128;
  int multiprocessors = 132;  // of the device: the persistent CTAs
  // Tokens per output tile: 0 — the measured rule (kernels/prefill_cost.h prefill_tokens_per_tile); one of
  // kTokensPerTileChoices forces it (benchmarks mapping that rule; other than 128 for 128x128 tiles only).
  int tokens_per_tile = 0;
  // The last wave's split: the measured rule, or forced (benchmarks), kernels/prefill_split.h.
  PrefillSplit split = PrefillSplit::rule;
  // What the rule prices this launch with beyond its sizes (kernels/prefill_cost.h prefill_rule_model): whether it is
  // being captured into a CUDA graph, the switches, the weight's 2:4 tile share. hybrid_prefill_workspace must be asked
  // with the same plan.
  PrefillRuleInputs rule;
  // Stream-K's exchange (hybrid_prefill_workspace says how large): fp32 partial sums (uninitialised), and one int flag
  // per CTA, all zero before the call and again after it.
  float* partials = nullptr;
  int* flags = nullptr;
  // Host memory: kernels/prefill_work.h's row_step_cost_prefix of this weight — the stream-K shares then cost the same
  // rather than having as many steps (weigh_stream_k_split). Null: equal steps.
  const std::int32_t* row_cost_prefix = nullptr;
};

struct HybridPrefillWorkspace {
  std::int64_t partial_floats = 0;
  int flags = 0;  // 0: the call needs no workspace
};
HybridPrefillWorkspace hybrid_prefill_workspace(const HybridPrefillPlan& plan, std::int64_t tokens);

// Whether the kernel was built for tiles of this shape (128x128, 64x128, 128x64, 64x64).
bool hybrid_prefill_tile_supported(int tile_height, int tile_width);

// Launches on `stream` (a cudaStream_t) on a device of compute capability 9.0 (the caller checks). x: [tokens, cols]
// bf16, contiguous, 16-byte aligned; y: [tokens, rows] bf16. Returns an empty string or why not / the CUDA error.
std::string hybrid_prefill(const HybridPrefillPlan& plan, const void* x, void* y, std::int64_t tokens, void* stream);

}  // namespace patchlm::kernels
