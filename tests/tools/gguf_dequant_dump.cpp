// Test tool: dequantise every tensor of a GGUF file to F32 exactly as stored (ggml shape reversed, no renaming or
// layout fixes) and save them under their GGUF names, so a test can compare bit for bit with the `gguf` package.
#include <iostream>
#include <vector>

#include "io/dequant.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "util/error.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: gguf_dequant_dump MODEL.gguf OUT.safetensors\n";
    return 2;
  }
  try {
    patchlm::GgufFile file = patchlm::GgufFile::open(argv[1]);
    std::vector<std::vector<float>> buffers;
    std::vector<patchlm::TensorToWrite> tensors;
    buffers.reserve(file.header().tensors.size());
    for (const auto& t : file.header().tensors) {
      buffers.emplace_back(t.numel());
      patchlm::dequantize(t.type, file.data(t), buffers.back());
      const auto* p = reinterpret_cast<const std::byte*>(buffers.back().data());
      tensors.push_back({t.name, patchlm::DType::F32, t.torch_shape(),
                         std::span<const std::byte>(p, buffers.back().size() * sizeof(float))});
    }
    patchlm::write_safetensors(argv[2], tensors);
  } catch (const patchlm::Error& e) {
    std::cerr << "gguf_dequant_dump: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
