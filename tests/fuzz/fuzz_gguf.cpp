// libFuzzer target: any byte string is either a valid GGUF header or an Error — never a crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "io/dequant.h"
#include "io/gguf.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    patchlm::GgufHeader h = patchlm::parse_gguf(bytes, "fuzz.gguf");
    for (const auto& t : h.tensors) {  // the parser vouched for these ranges: dequantising them must be safe
      if (!patchlm::dequant_supported(t.type) || t.numel() > (1u << 16)) continue;
      std::vector<float> out(t.numel());
      patchlm::dequantize(t.type, bytes.subspan(h.data_offset + t.offset, t.nbytes), out);
    }
  } catch (const patchlm::Error&) {
  }
  return 0;
}
