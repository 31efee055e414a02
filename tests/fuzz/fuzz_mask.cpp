// libFuzzer target: any byte string, read as a patchlm mask file (docs/masks.md), is either decoded or an Error.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "io/mask_file.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = "/tmp/patchlm-fuzz-mask-" + std::to_string(::getpid()) + ".safetensors";
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                 static_cast<std::streamsize>(size));
  try {
    const patchlm::MaskSet masks = patchlm::read_mask_file(path);
    volatile double sink = patchlm::global_sparsity(masks);
    (void)sink;
  } catch (const patchlm::Error&) {
  }
  return 0;
}
