#include "io/tokenizer/bpe.h"

#include <cstdio>
#include <queue>

#include "io/tokenizer/unicode.h"
#include "util/error.h"

namespace patchlm::tok {
namespace {

constexpr std::size_t kCacheLimit = 1 << 20;  // entries; the cache is cleared when it grows past this
constexpr std::size_t kMaxCachedLength = 256;  // longer pieces (e.g. whole Gemma lines) are not cached

struct Symbol {
  std::uint32_t id;
  std::int32_t prev, next;
  bool alive;
};

struct QueuedMerge {
  std::uint32_t rank;
  std::uint32_t pos;
  std::uint32_t id;
  // Lowest rank first, then leftmost: the order the reference applies merges in.
  bool operator<(const QueuedMerge& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

}  // namespace

Bpe::Bpe(Vocab vocab, const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options)
    : vocab_(std::move(vocab)), options_(std::move(options)) {
  std::uint32_t max_id = 0;
  for (const auto& [tok, id] : vocab_) max_id = std::max(max_id, id);
  if (static_cast<std::uint64_t>(max_id) > 2 * static_cast<std::uint64_t>(vocab_.size()) + 1024)
    throw Error(str_cat("tokenizer: vocabulary ids reach ", max_id, " for ", vocab_.size(), " tokens (corrupted?)"));
  id_to_token_.resize(vocab_.empty() ? 0 : max_id + 1);
  for (const auto& [tok, id] : vocab_) id_to_token_[id] = tok;
  const std::size_t prefix = options_.continuing_subword_prefix.size();
  merges_.reserve(merges.size() * 2);
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    auto ia = vocab_.find(a), ib = vocab_.find(b);
    if (ia == vocab_.end() || ib == vocab_.end()) {
      throw Error(str_cat("tokenizer: merge ", rank, " (", in_quotes(a), ", ", in_quotes(b), ") uses a token not in the vocabulary"));
    }
    std::string joined = a + (b.size() >= prefix ? b.substr(prefix) : b);
    auto ij = vocab_.find(joined);
    if (ij == vocab_.end()) throw Error(str_cat("tokenizer: merge result ", in_quotes(joined), " is not in the vocabulary"));
    merges_[pair_key(ia->second, ib->second)] = {static_cast<std::uint32_t>(rank), ij->second};  // later wins
  }
  if (!options_.unk_token.empty()) {
    auto it = vocab_.find(options_.unk_token);
    if (it == vocab_.end()) throw Error(str_cat("tokenizer: unk_token ", in_quotes(options_.unk_token), " is not in the vocabulary"));
    unk_id_ = it->second;
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    auto it = vocab_.find(std::string_view(name));
    byte_ids_[b] = it == vocab_.end() ? -1 : static_cast<std::int64_t>(it->second);
  }
}

void Bpe::initial_symbols(std::string_view w, std::vector<std::uint32_t>& ids) const {
  bool unk_pending = false;  // an unknown run waiting to be emitted (fused runs emit one unk token)
  auto flush_unk = [&] {
    if (unk_pending) ids.push_back(static_cast<std::uint32_t>(unk_id_));
    unk_pending = false;
  };
  std::string buffer;
  for (std::size_t i = 0; i < w.size();) {
    const std::size_t n = char_length_at(w, i);
    const bool first = i == 0, last = i + n == w.size();
    std::string_view s = w.substr(i, n);
    if ((!first && !options_.continuing_subword_prefix.empty()) || (last && !options_.end_of_word_suffix.empty())) {
      buffer.assign(first ? "" : options_.continuing_subword_prefix);
      buffer.append(s);
      if (last) buffer += options_.end_of_word_suffix;
      s = buffer;
    }
    i += n;
    if (auto it = vocab_.find(s); it != vocab_.end()) {
      flush_unk();
      ids.push_back(it->second);
      continue;
    }
    if (options_.byte_fallback) {
      bool all = true;
      for (unsigned char c : s) all &= byte_ids_[c] >= 0;
      if (all) {
        for (unsigned char c : s) ids.push_back(static_cast<std::uint32_t>(byte_ids_[c]));
        continue;  // (a pending unknown run is not flushed first, as in the reference)
      }
    }
    // Neither in the vocabulary nor byte-encodable, and no unknown token: the reference drops the character and
    // goes on (e.g. a byte-level vocabulary that lacks some byte tokens, as SmolLM2's lacks 0x04, 0xf5-0xff, ...).
    if (unk_id_ < 0) continue;
    if (!(unk_pending && options_.fuse_unk)) flush_unk();
    unk_pending = true;
  }
  flush_unk();
}

void Bpe::merge(std::vector<std::uint32_t>& ids) const {
  if (ids.size() < 2) return;
  std::vector<Symbol> sym(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    sym[i] = {ids[i], static_cast<std::int32_t>(i) - 1, i + 1 < ids.size() ? static_cast<std::int32_t>(i + 1) : -1, true};
  }
  std::priority_queue<QueuedMerge> queue;
  for (std::size_t i = 0; i + 1 < ids.size(); ++i) {
    if (auto it = merges_.find(pair_key(ids[i], ids[i + 1])); it != merges_.end()) {
      queue.push({it->second.rank, static_cast<std::uint32_t>(i), it->second.id});
    }
  }
  while (!queue.empty()) {
    QueuedMerge top = queue.top();
    queue.pop();
    Symbol& left = sym[top.pos];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = sym[left.next];
    auto it = merges_.find(pair_key(left.id, right.id));
    if (it == merges_.end() || it->second.id != top.id) continue;  // stale entry
    left.id = top.id;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) sym[right.next].prev = static_cast<std::int32_t>(top.pos);
    if (left.prev >= 0) {
      if (auto p = merges_.find(pair_key(sym[left.prev].id, left.id)); p != merges_.end()) {
        queue.push({p->second.rank, static_cast<std::uint32_t>(left.prev), p->second.id});
      }
    }
    if (left.next >= 0) {
      if (auto p = merges_.find(pair_key(left.id, sym[left.next].id)); p != merges_.end()) {
        queue.push({p->second.rank, top.pos, p->second.id});
      }
    }
  }
  ids.clear();
  for (const Symbol& s : sym) {
    if (s.alive) ids.push_back(s.id);
  }
}

void Bpe::encode(std::string_view piece, std::vector<std::uint32_t>& out) const {
  if (piece.empty()) return;
  if (options_.ignore_merges) {
    if (auto it = vocab_.find(piece); it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  const bool cacheable = piece.size() <= kMaxCachedLength;
  if (cacheable) {
    std::lock_guard lock(cache_mutex_);
    if (auto it = cache_.find(piece); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<std::uint32_t> ids;
  ids.reserve(piece.size());
  initial_symbols(piece, ids);
  merge(ids);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::lock_guard lock(cache_mutex_);
    if (cache_.size() >= kCacheLimit) cache_.clear();
    cache_.emplace(std::string(piece), std::move(ids));
  }
}

}  // namespace patchlm::tok
