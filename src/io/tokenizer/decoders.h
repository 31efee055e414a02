#pragma once
// tokenizer.json "decoder": token strings → text. Replace, ByteFallback, Fuse, Strip, ByteLevel, Metaspace,
// Sequence — each transforms the list of token strings as the reference does.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace patchlm::tok {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode(std::vector<std::string>& tokens) const = 0;
};

std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j);

}  // namespace patchlm::tok
