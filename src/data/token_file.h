#pragma once
// Pre-tokenized sequences on disk: a safetensors file with one I64 tensor "input_ids" [sequences, tokens] (e.g.
// calibration data tokenized elsewhere, `patchlm prune --calib-ids`). Torch-free.
#include <cstdint>
#include <filesystem>
#include <vector>

namespace patchlm {

// Error naming the file when it is unreadable or "input_ids" is missing, not I64, not 2-D or empty.
std::vector<std::vector<std::int64_t>> read_token_file(const std::filesystem::path& path);

}  // namespace patchlm
