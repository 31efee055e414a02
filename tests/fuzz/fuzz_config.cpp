// libFuzzer target: any byte string as config.json gives a ModelConfig that passed validate_config, or an Error —
// never a crash, and never a config whose sizes would be used before they were checked.
#include <cstddef>
#include <cstdint>
#include <string>

#include "io/model_config.h"
#include "util/error.h"
#include "util/json_io.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const nlohmann::json j = patchlm::parse_json_text(std::string(reinterpret_cast<const char*>(data), size), "config.json");
    const patchlm::ModelConfig c = patchlm::parse_hf_config(j, "config.json");
    volatile auto sink = c.to_hf_json().size();
    (void)sink;
  } catch (const patchlm::Error&) {
  }
  return 0;
}
