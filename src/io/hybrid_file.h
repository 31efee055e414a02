#pragma once
// The hybrid checkpoint file, `model.hybrid.safetensors` (docs/format.md): a safetensors file whose pruned
// projections are stored packed (kernels/hybrid_layout) as three tensors —
//   NAME:hybrid.tiles     U8  [bytes]                       the tiles, as the GPU kernel reads them
//   NAME:hybrid.cols      I32 [row_blocks, tiles_per_row]   tile column of every stored tile (tile-CSR)
//   NAME:hybrid.two_four  I32 [row_blocks]                  how many leading tiles of each row block are 2:4
// — and every other tensor unchanged under its own name. Metadata: format = "patchlm-hybrid",
// hybrid_layout_version, hybrid_tile ("RxC"), plus what the mask file said (method, sparsity, source_model_hash).
// Torch-free: the reader validates everything, so a corrupted file is an Error, never a crash.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "io/hybrid_layout.h"

namespace patchlm {

inline constexpr const char* kHybridFileName = "model.hybrid.safetensors";
inline constexpr const char* kHybridFormat = "patchlm-hybrid";

// Whether `name` is one of the three tensors of a packed weight; `base` receives the weight's name.
bool is_hybrid_part(const std::string& name, std::string* base = nullptr);

// The three tensors of a packed weight, viewing `packed` (which must outlive the returned spans).
std::vector<TensorToWrite> hybrid_parts(const std::string& name, const hybrid::PackedHybrid& packed);

// The metadata every hybrid file carries for `tile`.
std::map<std::string, std::string> hybrid_metadata(const TileShape& tile);

// Checks the file is a hybrid file of a layout this build reads; returns its tile.
TileShape read_hybrid_tile(const SafetensorsFile& file);

// The packed weight `name` of `file` (copied out of the mapping), fully validated. Error names file and weight.
hybrid::PackedHybrid read_packed(const SafetensorsFile& file, const std::string& name, const TileShape& tile);

}  // namespace patchlm
