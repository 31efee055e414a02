#include "eval/python_literal.h"

#include "io/tokenizer/unicode.h"
#include "util/error.h"

namespace patchlm {
namespace {

class Parser {
 public:
  Parser(const std::string& s, const std::string& source) : s_(s), source_(source) {}

  nlohmann::json document() {
    nlohmann::json v = value(0);
    skip_space();
    if (pos_ != s_.size()) fail("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(str_cat(source_, ": not a Python literal at byte ", pos_, " (", what, ")"));
  }
  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' || s_[pos_] == '\r')) ++pos_;
  }
  bool take(char c) {
    skip_space();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  nlohmann::json value(int depth) {
    if (depth > 64) fail("nested too deeply");
    skip_space();
    if (pos_ >= s_.size()) fail("unexpected end");
    char c = s_[pos_];
    if (c == '[' || c == '(') return sequence(c == '[' ? ']' : ')', depth);
    if (c == '{') return dict(depth);
    if (c == '\'' || c == '"') return string();
    for (auto [word, v] : {std::pair<const char*, nlohmann::json>{"True", true}, {"False", false}, {"None", nullptr}}) {
      std::string w(word);
      if (s_.compare(pos_, w.size(), w) == 0) {
        pos_ += w.size();
        return v;
      }
    }
    return number();
  }

  nlohmann::json sequence(char close, int depth) {
    ++pos_;
    nlohmann::json out = nlohmann::json::array();
    while (!take(close)) {
      out.push_back(value(depth + 1));
      if (!take(',') && !(skip_space(), pos_ < s_.size() && s_[pos_] == close)) fail("expected ',' or a closing bracket");
    }
    return out;
  }

  nlohmann::json dict(int depth) {
    ++pos_;
    nlohmann::json out = nlohmann::json::object();
    while (!take('}')) {
      nlohmann::json key = value(depth + 1);
      if (!key.is_string()) fail("dict keys must be strings");
      if (!take(':')) fail("expected ':'");
      out[key.get<std::string>()] = value(depth + 1);
      if (!take(',') && !(skip_space(), pos_ < s_.size() && s_[pos_] == '}')) fail("expected ',' or '}'");
    }
    return out;
  }

  nlohmann::json string() {
    const char quote = s_[pos_++];
    std::string out;
    while (true) {
      if (pos_ >= s_.size()) fail("unterminated string");
      char c = s_[pos_++];
      if (c == quote) break;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size()) fail("unterminated escape");
      char e = s_[pos_++];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case '0': out += '\0'; break;
        case '\\': case '\'': case '"': out += e; break;
        case 'x': case 'u': case 'U': {
          std::size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          if (pos_ + digits > s_.size()) fail("short escape");
          char32_t cp = static_cast<char32_t>(std::stoul(s_.substr(pos_, digits), nullptr, 16));
          pos_ += digits;
          tok::append_utf8(out, cp);
          break;
        }
        default: out += '\\'; out += e;  // Python keeps unknown escapes as written
      }
    }
    return out;
  }

  nlohmann::json number() {
    std::size_t start = pos_;
    while (pos_ < s_.size() && std::string("+-0123456789.eE").find(s_[pos_]) != std::string::npos) ++pos_;
    if (pos_ == start) fail("unexpected character");
    std::string t = s_.substr(start, pos_ - start);
    try {
      if (t.find_first_of(".eE") == std::string::npos) return std::stoll(t);
      return std::stod(t);
    } catch (const std::exception&) {
      fail("bad number");
    }
  }

  const std::string& s_;
  const std::string& source_;
  std::size_t pos_ = 0;
};

}  // namespace

nlohmann::json parse_python_literal(const std::string& text, const std::string& source) {
  return Parser(text, source).document();
}

}  // namespace patchlm
