#include "eval/perplexity.h"

#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>

#include "util/error.h"
#include "util/progress.h"

namespace patchlm {
namespace {

// Summed NLL of `targets` (-100 = not scored) under logits [B, T, V] (float32).
double summed_nll(const at::Tensor& logits, const at::Tensor& targets) {
  at::Tensor lp = logits.reshape({-1, logits.size(-1)});
  return at::cross_entropy_loss(lp, targets.reshape({-1}).to(lp.device()), {}, at::Reduction::Sum, -100)
      .item<double>();
}

}  // namespace

double PerplexityResult::ppl() const { return std::exp(mean_nll()); }

PerplexityResult perplexity(const Decoder& model, const std::vector<std::int64_t>& ids, const PerplexityOptions& o) {
  if (o.seq_len < 2) throw UsageError(str_cat("--seq-len: must be at least 2, got ", o.seq_len));
  if (o.stride < 0 || o.stride > o.seq_len) throw UsageError(str_cat("--stride: must be in [0, seq_len], got ", o.stride));
  if (o.batch < 1) throw UsageError(str_cat("--batch: must be positive, got ", o.batch));
  const auto n = static_cast<std::int64_t>(ids.size());
  if (n < o.seq_len) {
    throw Error(str_cat("the evaluation text has ", n, " tokens, fewer than one window of --seq-len ", o.seq_len));
  }
  c10::InferenceMode inference;
  const at::Tensor all = at::tensor(ids, at::kLong);
  PerplexityResult r;
  r.tokens_total = n;

  if (o.stride == 0 || o.stride == o.seq_len) {
    std::int64_t windows = n / o.seq_len;
    if (o.max_windows > 0) windows = std::min(windows, o.max_windows);
    Progress bar("perplexity", windows, {"window"});
    for (std::int64_t w = 0; w < windows; w += o.batch) {
      const std::int64_t b = std::min(o.batch, windows - w);
      at::Tensor input = all.narrow(0, w * o.seq_len, b * o.seq_len).view({b, o.seq_len});
      at::Tensor logits = model.forward(input).narrow(1, 0, o.seq_len - 1);
      r.nll_sum += summed_nll(logits, input.narrow(1, 1, o.seq_len - 1));
      r.tokens_scored += b * (o.seq_len - 1);
      r.windows += b;
      bar.advance(b);
    }
    return r;
  }

  // Sliding windows: each scores the tokens after the previous window's end.
  std::int64_t prev_end = 0, begin = 0;
  const std::int64_t total = (n - o.seq_len + o.stride - 1) / o.stride + 1;
  Progress bar("perplexity", o.max_windows > 0 ? std::min(total, o.max_windows) : total, {"window"});
  while (true) {
    const std::int64_t end = std::min(begin + o.seq_len, n);
    const std::int64_t fresh = end - prev_end;
    at::Tensor input = all.narrow(0, begin, end - begin).unsqueeze(0);
    at::Tensor targets = input.clone();
    targets.narrow(1, 0, (end - begin) - fresh).fill_(-100);
    targets.narrow(1, 0, 1).fill_(-100);  // the first token of a window has no context in it
    at::Tensor logits = model.forward(input).narrow(1, 0, end - begin - 1);
    r.nll_sum += summed_nll(logits, targets.narrow(1, 1, end - begin - 1));
    r.tokens_scored += targets.narrow(1, 1, end - begin - 1).ne(-100).sum().item<std::int64_t>();
    ++r.windows;
    bar.advance();
    prev_end = end;
    begin += o.stride;
    if (end == n || (o.max_windows > 0 && r.windows >= o.max_windows)) break;
  }
  return r;
}

EvaluationText evaluation_text(const Tokenizer& tok, const std::filesystem::path& corpus, const std::string& split) {
  EvaluationText t;
  t.corpus = corpus.empty() ? default_corpus_path() : corpus;
  const bool single_text = std::filesystem::is_regular_file(t.corpus) && t.corpus.extension() != ".jsonl";
  t.split = parse_split(split.empty() ? (single_text ? "all" : "test") : split);
  const std::vector<Document> docs = read_corpus(t.corpus, t.split);
  t.documents = docs.size();
  std::string joined;
  for (std::size_t i = 0; i < docs.size(); ++i) joined += (i ? "\n\n" : "") + docs[i].text;
  t.ids = tok.encode(joined);
  return t;
}

}  // namespace patchlm
