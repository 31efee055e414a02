#pragma once
// Packing tokenized documents into fixed-length sequences for calibration (one-shot pruning) and mask learning:
// documents are concatenated into one stream, each followed by a separator token (EOS), and the stream is cut into
// sequences of seq_len tokens — consecutive chunks, or chunks at seeded random offsets (the SparseGPT / Wanda
// calibration sampler). Deterministic for a given seed.
#include <cstdint>
#include <vector>

namespace patchlm {

struct PackOptions {
  std::int64_t seq_len = 2048;
  std::int64_t count = 0;       // sequences wanted; 0 = as many consecutive chunks as fit
  bool random_offsets = false;  // sample `count` windows at random offsets instead of consecutive chunks
  std::uint64_t seed = 0;
  std::int64_t separator = -1;  // token placed after every document; -1 = none
};

// The concatenated stream (documents + separators).
std::vector<std::int64_t> token_stream(const std::vector<std::vector<std::int64_t>>& documents, std::int64_t separator);

// Throws Error when the stream cannot fill what is asked (names the sizes).
std::vector<std::vector<std::int64_t>> pack_sequences(const std::vector<std::vector<std::int64_t>>& documents,
                                                      const PackOptions& options);

}  // namespace patchlm
