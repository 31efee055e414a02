#include "data/sampling.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "data/packing.h"
#include "util/error.h"

namespace patchlm {

std::vector<std::vector<std::int64_t>> sample_sequences(const Tokenizer& tokenizer, const SampleOptions& o) {
  if (o.count < 0 || (o.count == 0 && o.random_offsets)) {
    throw UsageError(str_cat("sample count must be positive, got ", o.count));
  }
  if (o.seq_len < 2) throw UsageError(str_cat("sequence length must be at least 2, got ", o.seq_len));
  const std::vector<Document> docs = read_corpus(o.corpus, o.split);
  // A seeded document order, so that stopping early does not always favour the alphabetically first files.
  std::vector<std::size_t> order(docs.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::shuffle(order.begin(), order.end(), std::mt19937_64(o.seed ^ 0x9e3779b97f4a7c15ull));
  const std::int64_t wanted = o.oversample > 0 && o.count > 0 ? o.oversample * o.count * o.seq_len : 0;
  std::vector<std::vector<std::int64_t>> tokens;
  std::int64_t total = 0;
  for (std::size_t i : order) {
    tokens.push_back(tokenizer.encode(docs[i].text));
    total += static_cast<std::int64_t>(tokens.back().size());
    if (wanted > 0 && total >= wanted) break;
  }
  PackOptions pack;
  pack.seq_len = o.seq_len;
  pack.count = o.count;
  pack.random_offsets = o.random_offsets;
  pack.seed = o.seed;
  try {
    return pack_sequences(tokens, pack);
  } catch (const Error& e) {
    throw Error(str_cat(o.corpus.string(), " (", split_name(o.split), " split, ", docs.size(), " documents): ", e.what()));
  }
}

}  // namespace patchlm
