// libFuzzer target: any byte string is either a valid safetensors header or an Error — never a crash.
#include <cstddef>
#include <cstdint>

#include "io/safetensors.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    patchlm::SafetensorsHeader h = patchlm::parse_safetensors(bytes, "fuzz.safetensors");
    std::uint64_t sum = 0;
    for (const auto& t : h.tensors) {  // touch every byte the parser vouched for
      for (std::uint64_t i = t.begin; i < t.end; i += 64) sum += data[h.data_offset + i];
    }
    volatile std::uint64_t sink = sum;
    (void)sink;
  } catch (const patchlm::Error&) {
  }
  return 0;
}
