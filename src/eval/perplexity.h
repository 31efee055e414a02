#pragma once
// Perplexity with the protocol of SparseGPT / Wanda / PATCH (WikiText-2 style): the evaluation text is joined and
// tokenized once, cut into non-overlapping windows of seq_len tokens (the remainder that does not fill a window is
// dropped, as those papers do), and PPL = exp(mean NLL over every predicted token). With a stride < seq_len the
// windows slide instead, and each window scores only the tokens no earlier window scored (HF's sliding protocol).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "io/tokenizer/tokenizer.h"
#include "model/decoder.h"

namespace patchlm {

struct PerplexityOptions {
  std::int64_t seq_len = 2048;
  std::int64_t stride = 0;       // 0 = non-overlapping windows
  std::int64_t batch = 1;        // windows per forward pass (non-overlapping mode)
  std::int64_t max_windows = 0;  // 0 = all
};

struct PerplexityResult {
  double nll_sum = 0;
  std::int64_t tokens_scored = 0;
  std::int64_t windows = 0;
  std::int64_t tokens_total = 0;  // length of the token stream
  double mean_nll() const { return tokens_scored ? nll_sum / static_cast<double>(tokens_scored) : 0; }
  double ppl() const;
};

// The evaluation text of a corpus as one token stream: the documents of `split` joined by a blank line and
// tokenized once. An empty corpus means python-docs; an empty split means "test" for folders and jsonl and "all" for
// a single text file (e.g. WikiText-2's wiki.test.raw: one document, the evaluation set as a whole).
struct EvaluationText {
  std::filesystem::path corpus;
  Split split = Split::test;
  std::size_t documents = 0;
  std::vector<std::int64_t> ids;
};
EvaluationText evaluation_text(const Tokenizer& tokenizer, const std::filesystem::path& corpus, const std::string& split);

// Throws Error when the stream is shorter than one window.
PerplexityResult perplexity(const Decoder& model, const std::vector<std::int64_t>& ids, const PerplexityOptions& options);

}  // namespace patchlm
