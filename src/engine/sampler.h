#pragma once
// Choosing the next token from a sequence's logits: greedy (temperature 0) or sampled with temperature, top-k and
// top-p from the sequence's own seeded generator, so every request is reproducible whatever it is batched with.
#include <cstdint>

#include <ATen/ATen.h>

namespace patchlm {

struct GenerateOptions {
  std::int64_t max_new_tokens = 32;
  double temperature = 0.0;  // 0 = greedy
  std::int64_t top_k = 0;    // 0 = off
  double top_p = 1.0;        // 1 = off
  std::uint64_t seed = 0;
  bool stop_at_eos = true;

  bool greedy() const { return temperature <= 0; }
};

// A generator for one sequence, seeded with options.seed.
at::Generator sequence_generator(const GenerateOptions& options);

// Picks the next token from float logits [vocab] (any device) as `options` says.
std::int64_t pick_token(const at::Tensor& logits, const GenerateOptions& options, at::Generator& generator);

}  // namespace patchlm
