#pragma once
// tokenizer.json "normalizer": text → text before pre-tokenization. NFC, Prepend, Replace (string pattern),
// Lowercase and Sequence — what the LLM tokenizers use.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace patchlm::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};

// nullptr for JSON null. Throws Error naming the type for unsupported normalizers.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j);

// Replaces every occurrence of `from` with `to` (left to right, non-overlapping).
void replace_all(std::string& text, const std::string& from, const std::string& to);

}  // namespace patchlm::tok
