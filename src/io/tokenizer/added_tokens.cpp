#include "io/tokenizer/added_tokens.h"

#include <utf8proc.h>

#include <algorithm>

#include "io/tokenizer/unicode.h"

namespace patchlm::tok {
namespace {

// \w as the reference's regex crate defines it in Unicode mode: letters, marks, digits, connector punctuation.
bool is_word_char(char32_t c) {
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO: case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

bool is_space(char32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

char32_t last_char(std::string_view s) {
  std::size_t i = s.size();
  while (i > 0 && (static_cast<unsigned char>(s[i - 1]) & 0xC0) == 0x80) --i;
  if (i > 0) --i;
  std::size_t n = 0;
  return decode_utf8(s, i, &n);
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(std::vector<std::string> patterns, std::vector<AddedToken> tokens)
    : tokens_(std::move(tokens)) {
  nodes_.emplace_back();
  for (std::size_t t = 0; t < patterns.size(); ++t) {
    const std::string& p = patterns[t];
    if (p.empty()) continue;
    first_byte_[static_cast<unsigned char>(p[0])] = true;
    std::uint32_t node = 0;
    for (unsigned char c : p) {
      std::int64_t next = child(node, c);
      if (next < 0) {
        next = static_cast<std::int64_t>(nodes_.size());
        nodes_.emplace_back();
        auto& ch = nodes_[node].children;
        ch.insert(std::upper_bound(ch.begin(), ch.end(), std::make_pair(c, 0u),
                                   [](const auto& a, const auto& b) { return a.first < b.first; }),
                  {c, static_cast<std::uint32_t>(next)});
      }
      node = static_cast<std::uint32_t>(next);
    }
    if (nodes_[node].token < 0) nodes_[node].token = static_cast<std::int64_t>(t);  // first pattern wins ties
  }
}

std::int64_t AddedTokenMatcher::child(std::uint32_t node, unsigned char c) const {
  const auto& ch = nodes_[node].children;
  auto it = std::lower_bound(ch.begin(), ch.end(), c, [](const auto& a, unsigned char b) { return a.first < b; });
  return it != ch.end() && it->first == c ? static_cast<std::int64_t>(it->second) : std::int64_t{-1};
}

std::pair<std::int64_t, std::size_t> AddedTokenMatcher::longest_at(std::string_view text, std::size_t pos) const {
  std::int64_t best = -1;
  std::size_t best_len = 0;
  std::uint32_t node = 0;
  for (std::size_t i = pos; i < text.size(); ++i) {
    std::int64_t next = child(node, static_cast<unsigned char>(text[i]));
    if (next < 0) break;
    node = static_cast<std::uint32_t>(next);
    if (nodes_[node].token >= 0) {
      best = nodes_[node].token;
      best_len = i + 1 - pos;
    }
  }
  return {best, best_len};
}

std::vector<TextSplit> AddedTokenMatcher::split(std::string_view text) const {
  std::vector<TextSplit> out;
  std::size_t start_offset = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    if (!first_byte_[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    auto [t, len] = longest_at(text, pos);
    if (t < 0) {
      ++pos;
      continue;
    }
    const AddedToken& tok = tokens_[static_cast<std::size_t>(t)];
    std::size_t start = pos, stop = pos + len;
    pos = stop;  // matches do not overlap
    if (tok.single_word) {
      bool word_before = start > 0 && is_word_char(last_char(text.substr(0, start)));
      std::size_t n = 0;
      bool word_after = stop < text.size() && is_word_char(decode_utf8(text, stop, &n));
      if (word_before || word_after) continue;
    }
    if (tok.lstrip) {
      std::size_t s = start;
      while (s > start_offset) {
        std::size_t k = s - 1;
        while (k > 0 && (static_cast<unsigned char>(text[k]) & 0xC0) == 0x80) --k;
        std::size_t n = 0;
        if (!is_space(decode_utf8(text, k, &n))) break;
        s = k;
      }
      start = s;
    }
    if (tok.rstrip) {
      while (stop < text.size()) {
        std::size_t n = 0;
        if (!is_space(decode_utf8(text, stop, &n))) break;
        stop += n;
      }
      pos = stop;
    }
    if (start_offset < start) out.push_back({start_offset, start, -1});
    out.push_back({start, stop, static_cast<std::int64_t>(tok.id)});
    start_offset = stop;
  }
  if (start_offset < text.size() || out.empty()) out.push_back({start_offset, text.size(), -1});
  return out;
}

}  // namespace patchlm::tok
