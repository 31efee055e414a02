#pragma once
// Export of a mask to patchlm's compact hybrid checkpoint (docs/format.md): every masked weight the tile divides is
// packed (2:4 tiles as kept values + indices, dense tiles whole, both as the GPU kernel reads them), a masked weight
// it does not divide is stored dense as W ⊙ M, every other tensor unchanged; weights are bf16, the kernel's type.
// `patchlm eval / generate / forward / inspect` read the result directly.
#include <cstdint>
#include <filesystem>
#include <string>

#include "io/mask_file.h"
#include "io/hybrid_layout.h"
#include "model/checkpoint.h"

namespace patchlm {

struct HybridExportSummary {
  int packed = 0, stored_dense = 0;  // masked weights packed / kept dense because the tile does not divide them
  std::uint64_t packed_bytes = 0;     // of the packed weights ...
  std::uint64_t dense_bytes = 0;      // ... and of the same weights as dense bf16
  double two_four_tile_share = 0;     // 2:4 tiles over all packed tiles
};

// Writes OUT_DIR (which must not exist) atomically: config.json, the tokenizer files, model.hybrid.safetensors.
HybridExportSummary export_hybrid(const Checkpoint& ckpt, const MaskSet& masks, const std::string& source,
                                  const std::filesystem::path& out_dir, const TileShape& tile);

}  // namespace patchlm
