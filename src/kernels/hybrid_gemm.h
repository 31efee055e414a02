#pragma once
// The hybrid dense / 2:4 tile GEMM for decode: y[m, rows] = x[m, cols] · Wᵀ for a weight packed by
// kernels/hybrid_layout (m = 1 .. 64 tokens, bf16 in and out, fp32 accumulation). The weight is the A operand
// (swap-AB): 2:4 tiles run on mma.sp.m16n8k32 (the sparse tensor cores), dense tiles on mma.m16n8k16; a producer
// warp streams the weights through a multi-stage shared-memory ring (bulk copies on Hopper), split over the CTAs by
// bytes (kernels/hybrid_schedule). No CUDA types here, so torch-side code includes it freely.
#include <cstdint>
#include <string>

namespace patchlm::kernels {

inline constexpr int kHybridMaxTokens = 64;
inline constexpr std::int64_t kMaxSharedBytes = 227 * 1024;  // dynamic shared memory a CTA may opt into (sm_80, sm_90)

// Device pointers, prepared once per packed weight (kernels/hybrid_linear: HybridWeight owns them).
struct HybridGemmPlan {
  const std::uint8_t* data = nullptr;            // packed tiles, the dense ones in the device layout (hybrid_unpack.h)
  const std::uint32_t* tile_desc = nullptr;      // [2 · tiles] (kernels/hybrid_schedule.h)
  const std::int32_t* cta_first_tile = nullptr;  // [ctas + 1]
  const std::int32_t* contributors = nullptr;    // [row_blocks]
  float* workspace = nullptr;                    // [rows · kHybridMaxTokens] fp32, all zero between calls
  bool shared_row_blocks = false;                // some row block has several contributors: a finish kernel runs
  int ctas = 0;
  std::int64_t rows = 0, cols = 0;
  int tile_height = 128, tile_width = 128;  // rows × columns of a tile
  int stages = 4;  // shared-memory ring depth: 2, 3, 4, 6, 8 or 12 (autotuned)
  // Copy weight tiles with the producer warp's cp.async instead of Hopper's bulk copies (what Ampere does; set by a
  // test so the Ampere path also runs on Hopper).
  bool weights_by_threads = false;
};

// Shared memory of the ring: `stages` × (one dense tile + the x slice of `tokens` padded to 8/16/32/64).
std::int64_t hybrid_ring_bytes(int tile_height, int tile_width, int tokens, int stages);

// The deepest ring (2, 3, 4, 6, 8 or 12 stages, at most `stages`) with which `ctas_per_sm` CTAs fit in one
// multiprocessor's `sm_shared_bytes` for `tokens` — so a whole grid stays resident (one wave) at any token count.
int hybrid_stages_that_fit(int tile_height, int tile_width, int tokens, int stages, int ctas_per_sm,
                           std::int64_t sm_shared_bytes);

// Whether a kernel was built for tiles of this shape (128x128, 128x64, 64x128, 64x64).
bool hybrid_tile_supported(int tile_height, int tile_width);

// Empty string when (tile shape, stages, tokens) is supported, otherwise why not.
std::string hybrid_gemm_unsupported(const HybridGemmPlan& plan, int tokens);

// Launches on `stream` (a cudaStream_t): the GEMM and, if some row block is shared, the finish kernel that reduces it.
// x: [tokens, cols] bf16, contiguous, 16-byte aligned; y: [tokens, rows]. Returns an empty string or the CUDA error.
std::string hybrid_gemm(const HybridGemmPlan& plan, const void* x, void* y, int tokens, void* stream);

// Streaming multiprocessors of the current device (the CTA count of one wave), and the shared memory of one.
int device_multiprocessors();
std::int64_t device_shared_bytes_per_multiprocessor();

}  // namespace patchlm::kernels
