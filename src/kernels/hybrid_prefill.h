#pragma once
// The hybrid dense / 2:4 GEMM for many tokens (batched decode, prefill) on Hopper (sm_90a): y[m, rows] = x[m, cols] ·
// Wᵀ for a weight packed by io/hybrid_layout, in the decode kernel's format as it is. Swap-AB as there: the weight is
// wgmma's A operand, taken from registers in the mma.sync fragment order the layout already stores (dense tiles:
// wgmma m64nNk16; 2:4 tiles: wgmma.sp m64nNk32 with the stored metadata words, the sparsity selector picking the
// thread pair), so dense and 2:4 tiles of a row block accumulate into the same registers. With fewer CTAs than
// multiprocessors (few tokens, few row blocks) each row block's tiles are split over several CTAs (split-K) whose
// fp32 sums meet in a workspace. A CTA owns one row block
// (tile.rows rows: one warpgroup per 64 rows) × N tokens (128 or 256); it walks the row block's stored tiles (tile-CSR)
// through a ring in shared memory filled by one thread's TMA and bulk copies (mbarriers count the bytes), holding each
// tile's packed bytes and the tokens' x columns of that tile
// (128-byte swizzled, read by wgmma through a descriptor); the epilogue transposes through shared memory into y.
// No CUDA types here (C++17), so torch-side code includes it freely.
#include <cstdint>
#include <string>

namespace patchlm::kernels {

struct HybridPrefillPlan {
  const std::uint8_t* data = nullptr;   // packed tiles (device)
  const std::uint32_t* tile_desc = nullptr;  // [2 · tile_count] (device): kernels/hybrid_schedule.h's tile_desc
  std::int64_t rows = 0, cols = 0;
  int tile_height = 128, tile_width = 128;
  int multiprocessors = 132;  // of the device: fewer CTAs than this split K
  // fp32 [tokens, rows], all zero: where K splits add up (hybrid_prefill_splits_k says when it is needed).
  float* partial = nullptr;
};

// Whether a call with `tokens` splits K (and so needs plan.partial).
bool hybrid_prefill_splits_k(const HybridPrefillPlan& plan, std::int64_t tokens);

// Whether the kernel was built for tiles of this shape (128x128, 64x128, 128x64, 64x64).
bool hybrid_prefill_tile_supported(int tile_height, int tile_width);

// Launches on `stream` (a cudaStream_t) on a device of compute capability 9.0 (the caller checks). x: [tokens, cols]
// bf16, contiguous, 16-byte aligned; y: [tokens, rows] bf16. Returns an empty string or why not / the CUDA error.
std::string hybrid_prefill(const HybridPrefillPlan& plan, const void* x, void* y, std::int64_t tokens, void* stream);

}  // namespace patchlm::kernels
