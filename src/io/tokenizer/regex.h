#pragma once
// A compiled PCRE2 pattern (UTF + Unicode properties, JIT when available) and non-overlapping match search.
// The tokenizer regexes (GPT-2, LLaMA-3, Qwen) use \p{L}, \p{N}, (?i:...) and look-ahead, all in PCRE2.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace patchlm::tok {

class Regex {
 public:
  // Throws Error naming the pattern when it does not compile.
  explicit Regex(const std::string& pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // [start, end) byte ranges of all non-overlapping matches, left to right. `text` must be valid UTF-8.
  std::vector<std::pair<std::size_t, std::size_t>> find_all(std::string_view text) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace patchlm::tok
