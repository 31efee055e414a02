#pragma once
// Autoregressive generation with the KV cache: greedy (temperature 0) or sampled (temperature, top-k, top-p)
// with a seeded generator, so a run is reproducible.
#include <cstdint>
#include <functional>
#include <vector>

#include "model/decoder.h"

namespace patchlm {

struct GenerateOptions {
  std::int64_t max_new_tokens = 32;
  double temperature = 0.0;  // 0 = greedy
  std::int64_t top_k = 0;    // 0 = off
  double top_p = 1.0;        // 1 = off
  std::uint64_t seed = 0;
  bool stop_at_eos = true;
};

// Returns only the new tokens. `on_token` (optional) sees each one as it is produced.
std::vector<std::int64_t> generate(const Decoder& model, const std::vector<std::int64_t>& prompt,
                                   const GenerateOptions& options,
                                   const std::function<void(std::int64_t)>& on_token = {});

// Picks the next token from logits [vocab] (float32) as `options` says.
std::int64_t pick_token(const at::Tensor& logits, const GenerateOptions& options, at::Generator& generator);

}  // namespace patchlm
