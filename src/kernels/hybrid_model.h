#pragma once
// The model a command runs: MODEL (HF directory, GGUF file or hybrid checkpoint) as a Decoder on a device, with a
// mask file applied if one is given. This is where the hybrid kernel is chosen: a hybrid checkpoint's packed weights
// become HybridProj projections straight from their packed form (no dense copy is ever made) wherever the kernel runs
// — CUDA, bf16, a tile shape it was built for; elsewhere they are unpacked one at a time into dense weights.
#include <memory>
#include <optional>
#include <string>

#include "model/decoder.h"

namespace patchlm::kernels {

// The builder that puts the kernel behind the packed projections of `checkpoint` on `device` (model/decoder.h);
// `count` (optional) receives how many it built.
ProjBuilder hybrid_proj_builder(const Checkpoint& checkpoint, at::Device device, int* count = nullptr);

// dtype nullopt = the default: bf16 for a hybrid checkpoint on CUDA (the kernel's type), f32 otherwise. An explicit
// f32 for a hybrid checkpoint on CUDA runs dense and says so (a warning naming the kernel bypassed).
std::unique_ptr<Decoder> load_model(const std::string& model, std::optional<at::ScalarType> dtype, at::Device device,
                                    const std::string& masks = "");

}  // namespace patchlm::kernels
