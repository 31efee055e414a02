#pragma once
// Log-likelihood of a continuation given a context, computed as lm-evaluation-harness's HF backend does:
// trailing spaces of the context move to the continuation, the pair is encoded whole and the context alone, the
// continuation tokens are those past the context's, the input is the last max_length tokens of both without the
// final one, and the log-probabilities (log_softmax, float32) of the continuation tokens are summed.
#include <cstdint>
#include <string>
#include <vector>

#include "io/tokenizer/tokenizer.h"
#include "model/decoder.h"

namespace patchlm {

struct Loglikelihood {
  double logprob = 0;
  bool greedy = false;  // every continuation token is the argmax
  std::int64_t tokens = 0;
};

class LoglikelihoodScorer {
 public:
  // Strings are encoded with the tokenizer's own special tokens (its BOS for LLaMA-2 / Gemma), unless the text
  // already starts with the BOS text — lm-evaluation-harness's default.
  LoglikelihoodScorer(const Decoder& model, const Tokenizer& tokenizer, std::int64_t max_length);
  Loglikelihood score(const std::string& context, const std::string& continuation) const;

 private:
  std::vector<std::int64_t> encode(const std::string& text) const;

  const Decoder& model_;
  const Tokenizer& tok_;
  std::int64_t max_length_;
  std::int64_t prefix_id_;  // BOS, else EOS: what an empty context starts from
  std::string prefix_text_;
};

}  // namespace patchlm
