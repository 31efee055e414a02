#pragma once
// The launch description of hybrid_unpack's CUDA kernel (hybrid_unpack.cu, C++17: no project headers beyond this).
#include <cstdint>
#include <string>

namespace patchlm::kernels {

struct HybridUnpackPlan {
  const std::uint8_t* data = nullptr;   // packed tiles (device)
  const std::int64_t* tiles = nullptr;  // [2 · tile_count] (device): unpack_table
  std::int64_t tile_count = 0, rows = 0, cols = 0;
  int tile_height = 128, tile_width = 128;  // multiples of 16 and 64, width ≤ 256
};

// Writes the dense weight to `out` (bf16 [rows, cols], 16-byte aligned) on `stream` (a cudaStream_t). Returns an
// empty string or the CUDA error.
std::string hybrid_unpack(const HybridUnpackPlan& plan, void* out, void* stream);

}  // namespace patchlm::kernels
