#include "model/generate.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>

#include "util/error.h"

namespace patchlm {

std::int64_t pick_token(const at::Tensor& logits, const GenerateOptions& o, at::Generator& generator) {
  if (o.temperature <= 0) return logits.argmax().item<std::int64_t>();
  at::Tensor scaled = logits.to(at::kCPU, at::kFloat) / o.temperature;
  if (o.top_k > 0 && o.top_k < scaled.size(0)) {
    at::Tensor kth = std::get<0>(scaled.topk(o.top_k)).min();
    scaled = scaled.masked_fill(scaled < kth, -std::numeric_limits<float>::infinity());
  }
  if (o.top_p < 1.0) {
    auto [sorted, order] = scaled.sort(/*dim=*/0, /*descending=*/true);
    at::Tensor cumulative = at::softmax(sorted, 0).cumsum(0);
    // Drop tokens once the mass before them already reaches top_p (the first token always stays).
    at::Tensor drop_sorted = (cumulative - at::softmax(sorted, 0)) >= o.top_p;
    at::Tensor drop = at::zeros_like(drop_sorted).scatter(0, order, drop_sorted);
    scaled = scaled.masked_fill(drop, -std::numeric_limits<float>::infinity());
  }
  at::Tensor probs = at::softmax(scaled, 0);
  return at::multinomial(probs, 1, false, generator).item<std::int64_t>();
}

std::vector<std::int64_t> generate(const Decoder& model, const std::vector<std::int64_t>& prompt,
                                   const GenerateOptions& o, const std::function<void(std::int64_t)>& on_token) {
  if (prompt.empty()) throw Error("generate: the prompt has no tokens");
  if (o.max_new_tokens < 0) throw Error("generate: --max-new-tokens must be >= 0");
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  KvCache cache;
  at::Tensor ids = at::tensor(prompt, at::kLong).unsqueeze(0).to(model.device());
  std::vector<std::int64_t> out;
  const auto& eos = model.config().eos_token_ids;
  for (std::int64_t step = 0; step < o.max_new_tokens; ++step) {
    at::Tensor logits = model.forward(ids, &cache).select(1, -1).squeeze(0).to(at::kCPU);
    std::int64_t next = pick_token(logits, o, generator);
    out.push_back(next);
    if (on_token) on_token(next);
    if (o.stop_at_eos && std::find(eos.begin(), eos.end(), next) != eos.end()) break;
    ids = at::tensor(std::vector<std::int64_t>{next}, at::kLong).unsqueeze(0).to(model.device());
  }
  return out;
}

}  // namespace patchlm
