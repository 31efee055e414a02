#include "eval/loglikelihood.h"

#include <c10/core/InferenceMode.h>

#include "util/error.h"

namespace patchlm {

LoglikelihoodScorer::LoglikelihoodScorer(const Decoder& model, const Tokenizer& tokenizer, std::int64_t max_length)
    : model_(model), tok_(tokenizer), max_length_(max_length) {
  prefix_id_ = tok_.bos_id() >= 0 ? tok_.bos_id() : tok_.eos_id();
  if (prefix_id_ >= 0) prefix_text_ = tok_.decode({prefix_id_});
}

std::vector<std::int64_t> LoglikelihoodScorer::encode(const std::string& text) const {
  const bool has_bos = !prefix_text_.empty() && text.compare(0, prefix_text_.size(), prefix_text_) == 0;
  return tok_.encode(text, /*add_special_tokens=*/!has_bos);
}

Loglikelihood LoglikelihoodScorer::score(const std::string& context_in, const std::string& continuation_in) const {
  std::string context = context_in, continuation = continuation_in;
  std::vector<std::int64_t> context_enc, continuation_enc;
  if (context.empty()) {
    if (prefix_id_ < 0) throw Error("loglikelihood: empty context and no BOS/EOS token to start from");
    context_enc = {prefix_id_};
    continuation_enc = encode(continuation);
  } else {
    const std::size_t kept = context.find_last_not_of(' ');
    const std::size_t spaces = kept == std::string::npos ? context.size() : context.size() - kept - 1;
    if (spaces > 0) {
      continuation = context.substr(context.size() - spaces) + continuation;
      context.resize(context.size() - spaces);
    }
    std::vector<std::int64_t> whole = encode(context + continuation);
    context_enc = encode(context);
    if (context_enc.size() > whole.size()) context_enc.resize(whole.size());
    continuation_enc.assign(whole.begin() + static_cast<std::ptrdiff_t>(context_enc.size()), whole.end());
  }
  if (continuation_enc.empty()) throw Error(str_cat("loglikelihood: continuation ", in_quotes(continuation_in), " has no tokens"));

  std::vector<std::int64_t> all = context_enc;
  all.insert(all.end(), continuation_enc.begin(), continuation_enc.end());
  const auto keep = std::min<std::int64_t>(static_cast<std::int64_t>(all.size()), max_length_ + 1);
  std::vector<std::int64_t> input(all.end() - keep, all.end() - 1);
  const auto inplen = static_cast<std::int64_t>(input.size());
  const auto contlen = static_cast<std::int64_t>(continuation_enc.size());

  c10::InferenceMode guard;
  at::Tensor logits = model_.forward(at::tensor(input, at::kLong).unsqueeze(0)).squeeze(0);
  at::Tensor logprobs = at::log_softmax(logits.narrow(0, inplen - contlen, contlen), -1);
  at::Tensor targets = at::tensor(continuation_enc, at::kLong).to(logprobs.device());
  Loglikelihood r;
  r.logprob = logprobs.gather(1, targets.unsqueeze(1)).sum().item<double>();
  r.greedy = logprobs.argmax(-1).equal(targets);
  r.tokens = contlen;
  return r;
}

}  // namespace patchlm
