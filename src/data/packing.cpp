#include "data/packing.h"

#include <random>

#include "util/error.h"

namespace patchlm {

std::vector<std::int64_t> token_stream(const std::vector<std::vector<std::int64_t>>& documents, std::int64_t separator) {
  std::vector<std::int64_t> stream;
  for (const auto& d : documents) {
    stream.insert(stream.end(), d.begin(), d.end());
    if (separator >= 0) stream.push_back(separator);
  }
  return stream;
}

std::vector<std::vector<std::int64_t>> pack_sequences(const std::vector<std::vector<std::int64_t>>& documents,
                                                      const PackOptions& o) {
  if (o.seq_len < 1) throw UsageError(str_cat("sequence length must be positive, got ", o.seq_len));
  if (o.count < 0) throw UsageError(str_cat("sequence count must be >= 0, got ", o.count));
  const std::vector<std::int64_t> stream = token_stream(documents, o.separator);
  const auto n = static_cast<std::int64_t>(stream.size());
  const std::int64_t fit = n / o.seq_len;
  if (fit == 0) {
    throw Error(str_cat("the corpus has ", n, " tokens, fewer than one sequence of ", o.seq_len));
  }
  std::vector<std::vector<std::int64_t>> out;
  if (o.random_offsets) {
    if (o.count == 0) throw UsageError("random sampling needs a sequence count");
    std::mt19937_64 rng(o.seed);
    std::uniform_int_distribution<std::int64_t> start(0, n - o.seq_len);
    for (std::int64_t i = 0; i < o.count; ++i) {
      std::int64_t s = start(rng);
      out.emplace_back(stream.begin() + s, stream.begin() + s + o.seq_len);
    }
    return out;
  }
  const std::int64_t want = o.count == 0 ? fit : o.count;
  if (want > fit) {
    throw Error(str_cat("the corpus has ", n, " tokens: room for ", fit, " sequences of ", o.seq_len, ", not ", want));
  }
  for (std::int64_t i = 0; i < want; ++i) {
    out.emplace_back(stream.begin() + i * o.seq_len, stream.begin() + (i + 1) * o.seq_len);
  }
  return out;
}

}  // namespace patchlm
