#pragma once
// Byte-pair encoding (the model of every tokenizer patchlm reads): a vocabulary, ranked merges, byte fallback to
// <0xNN> tokens, an unknown token (optionally fused), ignore_merges, and a per-word cache.
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace patchlm::tok {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using Vocab = std::unordered_map<std::string, std::uint32_t, StringHash, std::equal_to<>>;

struct BpeOptions {
  std::string unk_token;  // empty = none
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
};

class Bpe {
 public:
  // `merges` as (left, right) token strings in rank order. Throws Error naming a merge whose parts or result
  // are not in the vocabulary.
  Bpe(Vocab vocab, const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options);

  // Appends the ids of one pre-tokenized piece to `out`.
  void encode(std::string_view piece, std::vector<std::uint32_t>& out) const;

  const Vocab& vocab() const { return vocab_; }
  const std::vector<std::string>& id_to_token() const { return id_to_token_; }

 private:
  struct MergeTarget {
    std::uint32_t rank;
    std::uint32_t id;
  };
  static std::uint64_t pair_key(std::uint32_t a, std::uint32_t b) { return (std::uint64_t{a} << 32) | b; }
  void initial_symbols(std::string_view piece, std::vector<std::uint32_t>& ids) const;
  void merge(std::vector<std::uint32_t>& ids) const;

  Vocab vocab_;
  std::vector<std::string> id_to_token_;
  std::unordered_map<std::uint64_t, MergeTarget> merges_;
  BpeOptions options_;
  std::int64_t unk_id_ = -1;
  std::int64_t byte_ids_[256];  // id of <0xNN>, -1 when absent

  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<std::uint32_t>, StringHash, std::equal_to<>> cache_;
};

}  // namespace patchlm::tok
