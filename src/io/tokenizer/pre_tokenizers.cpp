#include "io/tokenizer/pre_tokenizers.h"

#include <algorithm>
#include <utility>

#include "io/tokenizer/normalizers.h"
#include "io/tokenizer/regex.h"
#include "io/tokenizer/unicode.h"
#include "util/error.h"

namespace patchlm::tok {
namespace {

enum class Behavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

Behavior parse_behavior(const std::string& s) {
  if (s == "Removed") return Behavior::removed;
  if (s == "Isolated") return Behavior::isolated;
  if (s == "MergedWithPrevious") return Behavior::merged_with_previous;
  if (s == "MergedWithNext") return Behavior::merged_with_next;
  if (s == "Contiguous") return Behavior::contiguous;
  throw Error(str_cat("tokenizer.json: split behavior ", in_quotes(s), " is not supported"));
}

using Span = std::pair<std::size_t, std::size_t>;
struct Segment {
  Span span;
  bool match;
};

// Matches and the gaps between them, covering the text.
std::vector<Segment> segments(std::size_t length, const std::vector<Span>& matches, bool invert) {
  std::vector<Segment> out;
  std::size_t prev = 0;
  for (const Span& m : matches) {
    if (prev != m.first) out.push_back({{prev, m.first}, invert});
    out.push_back({m, !invert});
    prev = m.second;
  }
  if (prev != length) out.push_back({{prev, length}, invert});
  return out;
}

// How matched delimiters attach to their neighbours (the semantics of the reference's SplitDelimiterBehavior).
std::vector<Span> apply_behavior(std::vector<Segment> segs, Behavior behavior) {
  std::vector<Span> out;
  switch (behavior) {
    case Behavior::isolated:
      for (const auto& s : segs) out.push_back(s.span);
      break;
    case Behavior::removed:
      for (const auto& s : segs) {
        if (!s.match) out.push_back(s.span);
      }
      break;
    case Behavior::merged_with_previous: {
      bool previous_match = false;
      for (const auto& s : segs) {
        if (s.match && !previous_match && !out.empty()) {
          out.back().second = s.span.second;
        } else {
          out.push_back(s.span);
        }
        previous_match = s.match;
      }
      break;
    }
    case Behavior::merged_with_next: {
      bool previous_match = false;
      for (auto it = segs.rbegin(); it != segs.rend(); ++it) {
        if (it->match && !previous_match && !out.empty()) {
          out.back().first = it->span.first;
        } else {
          out.push_back(it->span);
        }
        previous_match = it->match;
      }
      std::reverse(out.begin(), out.end());
      break;
    }
    case Behavior::contiguous: {
      bool previous_match = false;
      for (std::size_t i = 0; i < segs.size(); ++i) {
        if (i > 0 && segs[i].match == previous_match) {
          out.back().second = segs[i].span.second;
        } else {
          out.push_back(segs[i].span);
        }
        previous_match = segs[i].match;
      }
      break;
    }
  }
  return out;
}

// Splits every piece by `find(text)`; sub-pieces keep `first` only when they start the piece.
template <typename Find>
void split_pieces(std::vector<Piece>& pieces, Behavior behavior, bool invert, Find&& find) {
  std::vector<Piece> out;
  out.reserve(pieces.size() * 2);
  for (Piece& p : pieces) {
    std::vector<Span> spans = apply_behavior(segments(p.text.size(), find(p.text), invert), behavior);
    for (const Span& s : spans) {
      if (s.second > s.first) out.push_back({p.text.substr(s.first, s.second - s.first), p.first && s.first == 0});
    }
  }
  pieces = std::move(out);
}

std::vector<Span> find_string(std::string_view text, const std::string& needle) {
  std::vector<Span> out;
  if (needle.empty()) return out;
  for (std::size_t pos = text.find(needle); pos != std::string_view::npos; pos = text.find(needle, pos + needle.size())) {
    out.emplace_back(pos, pos + needle.size());
  }
  return out;
}

class SplitRegex : public PreTokenizer {
 public:
  SplitRegex(const std::string& pattern, Behavior b, bool invert) : regex_(pattern), behavior_(b), invert_(invert) {}
  void split(std::vector<Piece>& pieces) const override {
    split_pieces(pieces, behavior_, invert_, [&](const std::string& t) { return regex_.find_all(t); });
  }

 private:
  Regex regex_;
  Behavior behavior_;
  bool invert_;
};

class SplitString : public PreTokenizer {
 public:
  SplitString(std::string needle, Behavior b, bool invert) : needle_(std::move(needle)), behavior_(b), invert_(invert) {}
  void split(std::vector<Piece>& pieces) const override {
    split_pieces(pieces, behavior_, invert_, [&](const std::string& t) { return find_string(t, needle_); });
  }

 private:
  std::string needle_;
  Behavior behavior_;
  bool invert_;
};

constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevel : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), regex_(use_regex ? std::make_unique<Regex>(kGpt2Pattern) : nullptr) {}
  void split(std::vector<Piece>& pieces) const override {
    if (add_prefix_space_) {
      for (Piece& p : pieces) {
        if (p.text.empty() || p.text[0] != ' ') p.text.insert(0, " ");
      }
    }
    if (regex_) {
      split_pieces(pieces, Behavior::isolated, false, [&](const std::string& t) { return regex_->find_all(t); });
    }
    for (Piece& p : pieces) p.text = byte_level_encode(p.text);
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> regex_;
};

class Metaspace : public PreTokenizer {
 public:
  Metaspace(std::string replacement, std::string scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(std::move(scheme)), split_(split) {}
  void split(std::vector<Piece>& pieces) const override {
    for (Piece& p : pieces) {
      replace_all(p.text, " ", replacement_);
      bool starts = p.text.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts && (scheme_ == "always" || (scheme_ == "first" && p.first))) p.text.insert(0, replacement_);
    }
    if (split_) {
      split_pieces(pieces, Behavior::merged_with_next, false,
                   [&](const std::string& t) { return find_string(t, replacement_); });
    }
  }

 private:
  std::string replacement_, scheme_;
  bool split_;
};

class Sequence : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void split(std::vector<Piece>& pieces) const override {
    for (const auto& p : parts_) p->split(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

}  // namespace

std::string byte_level_encode(std::string_view text) {
  const auto& table = byte_to_unicode();
  std::string out;
  out.reserve(text.size() * 2);
  for (unsigned char c : text) out += table[c];
  return out;
}

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = j.value("type", "");
  if (type == "Split") {
    Behavior b = parse_behavior(j.at("behavior").get<std::string>());
    bool invert = j.value("invert", false);
    const auto& pattern = j.at("pattern");
    if (pattern.contains("Regex")) return std::make_unique<SplitRegex>(pattern["Regex"].get<std::string>(), b, invert);
    return std::make_unique<SplitString>(pattern.at("String").get<std::string>(), b, invert);
  }
  if (type == "ByteLevel") return std::make_unique<ByteLevel>(j.value("add_prefix_space", false), j.value("use_regex", true));
  if (type == "Metaspace") {
    std::string scheme = j.value("prepend_scheme", j.value("add_prefix_space", true) ? "always" : "never");
    return std::make_unique<Metaspace>(j.value("replacement", "\u2581"), scheme, j.value("split", true));
  }
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (const auto& p : j.at("pretokenizers")) {
      if (auto q = make_pre_tokenizer(p)) parts.push_back(std::move(q));
    }
    return std::make_unique<Sequence>(std::move(parts));
  }
  throw Error(str_cat("tokenizer.json: pre_tokenizer type ", in_quotes(type),
                      " is not supported (Split, ByteLevel, Metaspace, Sequence)"));
}

}  // namespace patchlm::tok
