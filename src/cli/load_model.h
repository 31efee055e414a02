#pragma once
// The model a command runs: MODEL (HF directory, GGUF file or hybrid checkpoint) as a Decoder on `device`, with
// --masks applied, or — for a hybrid checkpoint on a CUDA device — its packed weights running on the hybrid kernel.
#include <memory>
#include <string>

#include "model/decoder.h"

namespace patchlm::cli {

std::unique_ptr<Decoder> load_model(const std::string& model, at::ScalarType dtype, at::Device device,
                                    const std::string& masks);

}  // namespace patchlm::cli
