#include "learn/options.h"

#include "util/error.h"

namespace patchlm {

MaskMode parse_mask_mode(const std::string& name) {
  if (name == "maskllm") return MaskMode::maskllm;
  if (name == "tile") return MaskMode::tile;
  if (name == "joint") return MaskMode::joint;
  throw UsageError(str_cat("--mode: ", in_quotes(name), " is not one of maskllm, tile, joint"));
}

const char* mode_name(MaskMode mode) {
  switch (mode) {
    case MaskMode::maskllm: return "maskllm";
    case MaskMode::tile: return "tile";
    case MaskMode::joint: return "joint";
  }
  return "?";
}

}  // namespace patchlm
