#pragma once
// tokenizer.json "pre_tokenizer": splits normalized text into pieces the model encodes separately.
// Split (regex or string; Isolated / MergedWithPrevious / MergedWithNext / Removed / Contiguous; invert),
// ByteLevel (GPT-2 byte → printable mapping, optional GPT-2 regex and prefix space), Metaspace, Sequence.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace patchlm::tok {

// A piece of text and whether it is the first piece of the input (Metaspace's prepend_scheme "first").
struct Piece {
  std::string text;
  bool first = false;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` by their sub-pieces; empty pieces are dropped.
  virtual void split(std::vector<Piece>& pieces) const = 0;
};

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j);

// ByteLevel's character mapping of one piece (every byte → its printable stand-in).
std::string byte_level_encode(std::string_view text);

}  // namespace patchlm::tok
