#pragma once
// Streaming decoded text as tokens arrive: the text of all tokens so far is decoded again, and what is new is
// written — held back while it ends inside a multi-byte character (decoded as U+FFFD until its last byte comes).
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "io/tokenizer/tokenizer.h"

namespace patchlm::cli {

class TextStream {
 public:
  TextStream(const Tokenizer& tokenizer, std::ostream& out) : tok_(tokenizer), out_(out) {}

  void add(std::int64_t id) {
    ids_.push_back(id);
    const std::string text = tok_.decode(ids_, /*skip_special_tokens=*/true);
    if (text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0) return;
    if (text.compare(0, shown_.size(), shown_) == 0) {
      out_ << text.substr(shown_.size()) << std::flush;
      shown_ = text;
    }
  }
  const std::string& text() const { return shown_; }

 private:
  const Tokenizer& tok_;
  std::ostream& out_;
  std::vector<std::int64_t> ids_;
  std::string shown_;
};

}  // namespace patchlm::cli
