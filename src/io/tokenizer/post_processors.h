#pragma once
// tokenizer.json "post_processor": what is added around an encoded sequence when add_special_tokens is on.
// TemplateProcessing (single-sequence template), ByteLevel (changes offsets only: no ids), Sequence.
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

namespace patchlm::tok {

class PostProcessor {
 public:
  // Ids before and after the sequence, in order.
  std::vector<std::uint32_t> prefix, suffix;

  void apply(std::vector<std::uint32_t>& ids) const;
};

// Reads the template of single sequences; null or ByteLevel give an empty processor.
PostProcessor make_post_processor(const nlohmann::json& j);

}  // namespace patchlm::tok
