#pragma once
// Hybrid checkpoints (docs/format.md) on the model side: reading `model.hybrid.safetensors` into a Checkpoint. Which
// packed projections run on the GPU kernel is decided above the model, in kernels/hybrid_model.
#include <filesystem>

#include "model/checkpoint.h"

namespace patchlm {

// Adds the tensors of a hybrid file to `ckpt`: packed weights are validated and kept packed in ckpt.hybrid; other
// tensors as in any safetensors file.
void add_hybrid_file(const std::filesystem::path& file, Checkpoint& ckpt);

}  // namespace patchlm
