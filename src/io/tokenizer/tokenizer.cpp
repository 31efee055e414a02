#include "io/tokenizer/tokenizer.h"

#include "io/tokenizer/unicode.h"
#include "util/error.h"

namespace patchlm {

Tokenizer::Tokenizer(Parts parts) : p_(std::move(parts)) {
  if (!p_.model) throw Error("tokenizer: no model");
  std::vector<std::string> raw_patterns, norm_patterns;
  std::vector<tok::AddedToken> raw_tokens, norm_tokens;
  std::int64_t max_id = static_cast<std::int64_t>(p_.model->id_to_token().size()) - 1;
  // Added tokens extend the vocabulary; an id far past it is a corrupted file (and would size tables by it).
  const std::int64_t most = max_id + static_cast<std::int64_t>(p_.added.size()) + 1024;
  for (const tok::AddedToken& t : p_.added) {
    if (static_cast<std::int64_t>(t.id) > most)
      throw Error(str_cat("tokenizer: added token ", in_quotes(t.content), " has id ", t.id, ", far past the vocabulary of ",
                          max_id + 1, " tokens"));
    max_id = std::max<std::int64_t>(max_id, t.id);
  }
  added_by_id_.assign(static_cast<std::size_t>(max_id + 1), nullptr);
  added_surface_.assign(static_cast<std::size_t>(max_id + 1), std::string());
  for (const tok::AddedToken& t : p_.added) {
    added_by_id_[t.id] = &t;
    added_surface_[t.id] = t.content;
    if (t.normalized) {
      std::string pattern = t.content;
      if (p_.normalizer) p_.normalizer->normalize(pattern);
      added_surface_[t.id] = pattern;
      norm_patterns.push_back(pattern);
      norm_tokens.push_back(t);
    } else {
      raw_patterns.push_back(t.content);
      raw_tokens.push_back(t);
    }
  }
  raw_matcher_ = tok::AddedTokenMatcher(std::move(raw_patterns), std::move(raw_tokens));
  normalized_matcher_ = tok::AddedTokenMatcher(std::move(norm_patterns), std::move(norm_tokens));
  if (!p_.bos_token.empty()) bos_id_ = token_to_id(p_.bos_token).value_or(-1);
  if (!p_.eos_token.empty()) eos_id_ = token_to_id(p_.eos_token).value_or(-1);
}

void Tokenizer::encode_text(std::string_view text, std::vector<std::uint32_t>& out, bool first) const {
  std::string normalized(text);
  if (p_.normalizer) p_.normalizer->normalize(normalized);
  for (const tok::TextSplit& s : normalized_matcher_.split(normalized)) {
    if (s.id >= 0) {
      out.push_back(static_cast<std::uint32_t>(s.id));
      continue;
    }
    std::vector<tok::Piece> pieces{{normalized.substr(s.begin, s.end - s.begin), first && s.begin == 0}};
    if (p_.pre_tokenizer) p_.pre_tokenizer->split(pieces);
    for (const tok::Piece& piece : pieces) p_.model->encode(piece.text, out);
  }
}

std::vector<std::int64_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::string repaired;
  if (!tok::is_valid_utf8(text)) {
    repaired = tok::utf8_lossy(text);
    text = repaired;
  }
  std::vector<std::uint32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  for (const tok::TextSplit& s : raw_matcher_.split(text)) {
    if (s.id >= 0) {
      ids.push_back(static_cast<std::uint32_t>(s.id));
    } else {
      encode_text(text.substr(s.begin, s.end - s.begin), ids, s.begin == 0);
    }
  }
  if (add_special_tokens) p_.post_processor.apply(ids);
  return std::vector<std::int64_t>(ids.begin(), ids.end());
}

std::string Tokenizer::decode(const std::vector<std::int64_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (std::int64_t id : ids) {
    const bool added = id >= 0 && static_cast<std::size_t>(id) < added_by_id_.size() && added_by_id_[id] != nullptr;
    if (added && skip_special_tokens && added_by_id_[id]->special) continue;
    if (auto t = id_to_token(id)) tokens.push_back(*t);
  }
  if (!p_.decoder) {
    std::string joined;
    for (std::size_t i = 0; i < tokens.size(); ++i) joined += (i ? " " : "") + tokens[i];
    return joined;
  }
  p_.decoder->decode(tokens);
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

// Added tokens first, spelled as they are matched: a normalized added token reads as its normalized form (the
// reference decodes an added "ring" under LLaMA-2's normalizer as "▁ring", i.e. " ring").
std::optional<std::string> Tokenizer::id_to_token(std::int64_t id) const {
  if (id < 0) return std::nullopt;
  if (static_cast<std::size_t>(id) < added_by_id_.size() && added_by_id_[id] != nullptr) return added_surface_[id];
  const auto& table = p_.model->id_to_token();
  if (static_cast<std::size_t>(id) < table.size() && !table[id].empty()) return table[id];
  return std::nullopt;
}

std::optional<std::int64_t> Tokenizer::token_to_id(std::string_view token) const {
  for (const tok::AddedToken& t : p_.added) {
    if (t.content == token) return t.id;
  }
  const auto& vocab = p_.model->vocab();
  if (auto it = vocab.find(token); it != vocab.end()) return it->second;
  return std::nullopt;
}

std::int64_t Tokenizer::vocab_size() const { return static_cast<std::int64_t>(added_by_id_.size()); }

}  // namespace patchlm
