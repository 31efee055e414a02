#pragma once
// One stored tile's entry of hybrid_schedule.h's tile_desc, read on the device by the kernels that walk tiles one at
// a time (hybrid_prefill.cu, hybrid_unpack.cu): {byte offset / 16, tile column | 2:4 flag << 31}. Device code only
// (include from .cu files, C++17).
#include <cstdint>

namespace patchlm::kernels {

struct TileRef {
  std::int64_t offset;  // bytes into the packed data
  int column;           // tile column
  bool sparse;          // stored 2:4
};

__device__ __forceinline__ TileRef tile_ref(const std::uint32_t* tile_desc, std::int64_t index) {
  const std::uint32_t where = tile_desc[2 * index + 1];
  return {16 * static_cast<std::int64_t>(tile_desc[2 * index]), static_cast<int>(where & 0x7FFFFFFF), (where >> 31) != 0};
}

}  // namespace patchlm::kernels
