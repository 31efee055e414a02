#pragma once
// What a checkpoint or a mask file holds: per masked layer its shape, dtype, sparsity (share of zero / pruned
// weights) and share of 2:4 tiles (tiles in which every group of 4 keeps at most 2), globally the sparsity, and the
// size on disk. Backs `patchlm inspect`.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "io/tiles.h"

namespace patchlm {

struct LayerReport {
  std::string name, dtype;
  std::int64_t rows = 0, cols = 0;
  double sparsity = 0;
  double two_four_tile_share = -1;  // -1: the tile does not divide the layer
};

struct InspectReport {
  std::string kind;  // "mask file" or "checkpoint (safetensors | gguf)"
  std::vector<LayerReport> layers;
  double sparsity = 0;  // over all layers listed
  std::uint64_t bytes_on_disk = 0;
  std::int64_t tensors = 0;
  std::map<std::string, std::string> metadata;
};

bool is_mask_file(const std::filesystem::path& path);
InspectReport inspect_mask_file(const std::filesystem::path& path, const TileShape& tile);
// Lists the q/k/v/o/gate/up/down weights of a HF directory or GGUF file.
InspectReport inspect_checkpoint(const std::filesystem::path& path, const TileShape& tile);

}  // namespace patchlm
