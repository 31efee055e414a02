#pragma once
// Token sequences for calibration (one-shot pruning) and mask learning, drawn from a text corpus: the documents of
// one split are tokenized (each with the tokenizer's special tokens, i.e. BOS) in a seeded random order until the
// stream is large enough, then packed into sequences (random offsets, as SparseGPT / Wanda sample their
// calibration windows, or consecutive chunks). Deterministic for a given corpus, tokenizer and seed.
#include <cstdint>
#include <filesystem>
#include <vector>

#include "data/corpus.h"
#include "io/tokenizer/tokenizer.h"

namespace patchlm {

struct SampleOptions {
  std::filesystem::path corpus;  // file or folder (read_corpus)
  Split split = Split::train;
  std::int64_t count = 128;  // 0: every consecutive chunk of the (whole) split
  std::int64_t seq_len = 2048;
  std::uint64_t seed = 0;
  bool random_offsets = true;
  // Stop tokenizing once the stream holds this many times count × seq_len tokens (all documents when 0).
  std::int64_t oversample = 4;
};

// Throws Error (naming the corpus and the sizes) when the split cannot fill the request.
std::vector<std::vector<std::int64_t>> sample_sequences(const Tokenizer& tokenizer, const SampleOptions& options);

}  // namespace patchlm
