// libFuzzer target: any byte string as tokenizer.json gives a tokenizer (which then encodes and decodes a fixed text)
// or an Error — never a crash, and no allocation sized by an id the file made up.
#include <cstddef>
#include <cstdint>
#include <string>

#include "io/tokenizer/tokenizer.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const patchlm::Tokenizer tok = patchlm::Tokenizer::from_json_text(
        std::string_view(reinterpret_cast<const char*>(data), size), "tokenizer.json", nlohmann::json());
    const auto ids = tok.encode("Hello world, <mask> caf\xc3\xa9 12345!");
    volatile std::size_t sink = tok.decode(ids).size();
    (void)sink;
  } catch (const patchlm::Error&) {
  }
  return 0;
}
