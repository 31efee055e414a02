#include "io/tokenizer/normalizers.h"

#include <utf8proc.h>

#include "io/tokenizer/unicode.h"
#include "util/error.h"

namespace patchlm::tok {
namespace {

class Nfc : public Normalizer {
 public:
  void normalize(std::string& text) const override {
    // Pure ASCII is already NFC; skip the library call for the common case.
    for (unsigned char c : text) {
      if (c >= 0x80) {
        text = nfc(text);
        return;
      }
    }
  }
};

class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class Replace : public Normalizer {
 public:
  Replace(std::string from, std::string to) : from_(std::move(from)), to_(std::move(to)) {}
  void normalize(std::string& text) const override { replace_all(text, from_, to_); }

 private:
  std::string from_, to_;
};

class Lowercase : public Normalizer {
 public:
  void normalize(std::string& text) const override {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
      std::size_t n = 0;
      char32_t cp = decode_utf8(text, i, &n);
      append_utf8(out, static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp))));
      i += n;
    }
    text = std::move(out);
  }
};

class Sequence : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  void normalize(std::string& text) const override {
    for (const auto& p : parts_) p->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

std::string string_pattern(const nlohmann::json& j, const char* where) {
  if (!j.contains("pattern") || !j["pattern"].contains("String")) {
    throw Error(str_cat("tokenizer.json: ", where, ": only string patterns are supported"));
  }
  return j["pattern"]["String"].get<std::string>();
}

}  // namespace

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  if (from.empty() || text.find(from) == std::string::npos) return;
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  std::size_t pos = 0, hit;
  while ((hit = text.find(from, pos)) != std::string::npos) {
    out.append(text, pos, hit - pos);
    out += to;
    pos = hit + from.size();
  }
  out.append(text, pos, std::string::npos);
  text = std::move(out);
}

std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = j.value("type", "");
  if (type == "NFC") return std::make_unique<Nfc>();
  if (type == "Prepend") return std::make_unique<Prepend>(j.at("prepend").get<std::string>());
  if (type == "Replace") return std::make_unique<Replace>(string_pattern(j, "Replace normalizer"), j.at("content").get<std::string>());
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (const auto& n : j.at("normalizers")) {
      if (auto p = make_normalizer(n)) parts.push_back(std::move(p));
    }
    return std::make_unique<Sequence>(std::move(parts));
  }
  throw Error(str_cat("tokenizer.json: normalizer type ", in_quotes(type), " is not supported (NFC, Prepend, Replace, ",
                      "Lowercase, Sequence)"));
}

}  // namespace patchlm::tok
