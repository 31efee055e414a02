#pragma once
// Hybrid checkpoints (docs/format.md) on the model side: loading `model.hybrid.safetensors` and putting the hybrid
// GEMM behind the Proj seam of the packed projections.
#include <filesystem>

#include <ATen/ATen.h>

#include "model/checkpoint.h"
#include "model/decoder.h"

namespace patchlm {

// Adds the tensors of a hybrid file to `ckpt`: packed weights are validated, kept packed in ckpt.hybrid and unpacked
// (exactly, bf16) into ckpt.tensors so every command works on them; other tensors as in any safetensors file.
void add_hybrid_file(const std::filesystem::path& file, Checkpoint& ckpt);

// On a CUDA device, runs every packed projection of `ckpt` through the hybrid kernel (bf16 inputs; others fall back
// to a dense weight unpacked on first use) and frees its dense device copy, so only the packed bytes stay resident.
// Returns how many projections use it (0 elsewhere).
int use_hybrid_kernels(Decoder& model, const Checkpoint& ckpt, at::Device device);

}  // namespace patchlm
