#pragma once
// Perplexity with the protocol of SparseGPT / Wanda / PATCH (WikiText-2 style): the evaluation text is joined and
// tokenized once, cut into non-overlapping windows of seq_len tokens (the remainder that does not fill a window is
// dropped, as those papers do), and PPL = exp(mean NLL over every predicted token). With a stride < seq_len the
// windows slide instead, and each window scores only the tokens no earlier window scored (HF's sliding protocol).
#include <cstdint>
#include <vector>

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

// Throws Error when the stream is shorter than one window.
PerplexityResult perplexity(const Decoder& model, const std::vector<std::int64_t>& ids, const PerplexityOptions& options);

}  // namespace patchlm
