#pragma once
// A Hugging Face tokenizer (tokenizer.json, optionally with tokenizer_config.json) or the vocabulary embedded in
// a GGUF file, with ids identical to the reference `tokenizers` library. The pipeline, as in the reference:
//   added tokens (raw) → normalizer → added tokens (normalized) → pre-tokenizer → BPE → post-processor.
// Input that is not valid UTF-8 is first repaired: each maximal invalid sequence becomes U+FFFD (what Python's
// bytes.decode(errors="replace") and Rust's from_utf8_lossy do), so every byte string encodes without error.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/tokenizer/added_tokens.h"
#include "io/tokenizer/bpe.h"
#include "io/tokenizer/decoders.h"
#include "io/tokenizer/normalizers.h"
#include "io/tokenizer/post_processors.h"
#include "io/tokenizer/pre_tokenizers.h"

namespace patchlm {

struct GgufHeader;

class Tokenizer {
 public:
  // A tokenizer.json file; tokenizer_config.json beside it (if any) supplies bos/eos token names.
  static Tokenizer from_json_file(const std::filesystem::path& path);
  // A model directory with tokenizer.json, or a GGUF file with an embedded vocabulary.
  static Tokenizer from_model(const std::filesystem::path& path);
  static Tokenizer from_gguf(const GgufHeader& header, const std::string& source);  // io/tokenizer/gguf_vocab.h
  // A tokenizer.json document held in memory; `config` is its tokenizer_config.json (null when none).
  static Tokenizer from_json_text(std::string_view text, const std::string& source, const nlohmann::json& config);

  std::vector<std::int64_t> encode(std::string_view text, bool add_special_tokens = true) const;
  std::string decode(const std::vector<std::int64_t>& ids, bool skip_special_tokens = false) const;

  std::optional<std::string> id_to_token(std::int64_t id) const;
  std::optional<std::int64_t> token_to_id(std::string_view token) const;
  std::int64_t vocab_size() const;  // one past the largest id
  std::int64_t bos_id() const { return bos_id_; }  // -1 when unknown
  std::int64_t eos_id() const { return eos_id_; }
  const std::string& bos_token() const { return p_.bos_token; }
  const std::string& chat_template() const { return p_.chat_template; }

  // Assembly (used by the loaders).
  struct Parts {
    std::unique_ptr<tok::Normalizer> normalizer;
    std::unique_ptr<tok::PreTokenizer> pre_tokenizer;
    std::unique_ptr<tok::Bpe> model;
    tok::PostProcessor post_processor;
    std::unique_ptr<tok::Decoder> decoder;
    std::vector<tok::AddedToken> added;
    std::string bos_token, eos_token;
    std::string chat_template;  // Jinja source from tokenizer_config.json (empty when none)
  };
  explicit Tokenizer(Parts parts);

 private:
  void encode_text(std::string_view text, std::vector<std::uint32_t>& out, bool first) const;

  Parts p_;
  tok::AddedTokenMatcher raw_matcher_, normalized_matcher_;
  std::vector<const tok::AddedToken*> added_by_id_;  // indexed by id; nullptr for model tokens
  std::vector<std::string> added_surface_;            // how each added token reads (normalized if it is)
  std::int64_t bos_id_ = -1, eos_id_ = -1;
};

}  // namespace patchlm
