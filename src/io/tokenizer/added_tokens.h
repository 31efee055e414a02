#pragma once
// Added (and special) tokens: found in the text before the model sees it, leftmost-longest, with the lstrip /
// rstrip / single_word flags. Tokens with normalized=false are matched on the raw text, the others on the
// normalized pieces — exactly the two passes of the reference implementation.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace patchlm::tok {

struct AddedToken {
  std::string content;
  std::uint32_t id = 0;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
  bool special = false;
};

// A span of the text: either an added token (id >= 0) or ordinary text (id == -1).
struct TextSplit {
  std::size_t begin, end;
  std::int64_t id;
};

class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  // `patterns[i]` is what to look for (the content, or its normalized form) for `tokens[i]`.
  AddedTokenMatcher(std::vector<std::string> patterns, std::vector<AddedToken> tokens);

  bool empty() const { return tokens_.empty(); }
  // Splits covering `text` in order (a single ordinary split when nothing matches).
  std::vector<TextSplit> split(std::string_view text) const;

 private:
  struct Node {
    std::vector<std::pair<unsigned char, std::uint32_t>> children;  // sorted by byte
    std::int64_t token = -1;  // index into tokens_ when a pattern ends here
  };
  std::int64_t child(std::uint32_t node, unsigned char c) const;
  // Longest pattern starting at `pos`: (index, length) or (-1, 0).
  std::pair<std::int64_t, std::size_t> longest_at(std::string_view text, std::size_t pos) const;

  std::vector<Node> nodes_;
  std::vector<AddedToken> tokens_;
  bool first_byte_[256] = {};
};

}  // namespace patchlm::tok
