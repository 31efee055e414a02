#include "engine/sampler.h"

#include <ATen/CPUGeneratorImpl.h>

#include <limits>

namespace patchlm {

at::Generator sequence_generator(const GenerateOptions& o) { return at::make_generator<at::CPUGeneratorImpl>(o.seed); }

std::int64_t pick_token(const at::Tensor& logits, const GenerateOptions& o, at::Generator& generator) {
  if (o.greedy()) return logits.argmax().item<std::int64_t>();
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

}  // namespace patchlm
