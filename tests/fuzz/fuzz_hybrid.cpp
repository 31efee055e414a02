// libFuzzer target: any byte string, read as a hybrid checkpoint file (docs/format.md), is either decoded or an
// Error — never a crash, never an out-of-bounds read of the packed tiles.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "io/hybrid_file.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = "/tmp/patchlm-fuzz-hybrid-" + std::to_string(::getpid()) + ".safetensors";
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                 static_cast<std::streamsize>(size));
  try {
    patchlm::SafetensorsFile file = patchlm::SafetensorsFile::open(path);
    patchlm::TileShape tile = patchlm::read_hybrid_tile(file);
    for (const auto& e : file.tensors()) {
      std::string base;
      if (!patchlm::is_hybrid_part(e.name, &base)) continue;
      patchlm::hybrid::PackedHybrid p = patchlm::read_packed(file, base, tile);
      volatile std::size_t sink = patchlm::hybrid::unpack(p).size();
      (void)sink;
    }
  } catch (const patchlm::Error&) {
  }
  return 0;
}
