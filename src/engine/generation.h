#pragma once
// Generation over the engine: every request's prompt is prefilled into a free slot, then all running sequences decode
// together, one token each per step; a sequence that ends (EOS, a stop token, its token budget or the context) frees
// its slot for the next waiting request at once (continuous batching). Tokens are reported as they are produced.
#include <cstdint>
#include <functional>
#include <vector>

#include "engine/engine.h"
#include "engine/sampler.h"

namespace patchlm {

struct GenerationRequest {
  std::vector<std::int64_t> prompt;
  GenerateOptions options;
  std::vector<std::int64_t> stop_tokens;  // end the sequence besides the model's EOS (e.g. a chat's end of turn)
};

enum class FinishReason { length, stop, context };
const char* finish_reason_name(FinishReason reason);  // "length", "stop", "context"

struct GenerationResult {
  std::vector<std::int64_t> tokens;  // the new tokens (a stop token included)
  FinishReason finish = FinishReason::length;
};

// Request `index` produced `token`; return false to stop that request (its slot is freed).
using TokenCallback = std::function<bool(std::size_t index, std::int64_t token)>;

// Error naming the request when a prompt is empty or does not fit the engine's context.
std::vector<GenerationResult> generate(Engine& engine, const std::vector<GenerationRequest>& requests,
                                       const TokenCallback& on_token = {});

}  // namespace patchlm
