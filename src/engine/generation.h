#pragma once
// Generation over the engine with continuous batching: waiting requests' prompts are prefilled into free slots (together,
// in passes of up to kPrefillTokensPerPass tokens), then all
// running sequences decode together, one token each per step; a sequence that ends (EOS, a stop token, its token
// budget, the context, or its consumer saying stop) frees its slot for the next waiting request at once. Tokens are
// reported as they are produced. `Batcher` takes requests at any time between steps (the server's scheduler);
// `generate` runs a fixed list to completion.
#include <cstdint>
#include <deque>
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

enum class FinishReason { length, stop, context, cancelled };
const char* finish_reason_name(FinishReason reason);  // "length", "stop", "context", "cancelled"

struct GenerationResult {
  std::vector<std::int64_t> tokens;  // the new tokens (a stop token included)
  FinishReason finish = FinishReason::length;
};

// A request produced `token`; return false to end it (finish reason `cancelled`; its slot is freed).
using OnToken = std::function<bool(std::int64_t token)>;
using OnFinish = std::function<void(const GenerationResult& result)>;

// Error naming the problem when a request cannot run on `engine` (empty prompt, prompt not fitting the context,
// negative budget).
void check_request(const Engine& engine, const GenerationRequest& request);

// Prompt tokens per prefill pass (a longer prompt runs alone): many short prompts become one pass whose projections
// run as GEMMs of up to this many rows instead of one small GEMM per prompt (docs/performance.md, batched prefill).
inline constexpr std::int64_t kPrefillTokensPerPass = 8192;
// Whether a prompt of `length` tokens joins a pass that already holds `pass_tokens` (a pass takes its first prompt
// whatever its length).
constexpr bool joins_prefill_pass(std::int64_t pass_tokens, std::int64_t length,
                                  std::int64_t tokens_per_pass = kPrefillTokensPerPass) {
  return pass_tokens == 0 || pass_tokens + length <= tokens_per_pass;
}

class Batcher {
 public:
  explicit Batcher(Engine& engine, std::int64_t prefill_tokens_per_pass = kPrefillTokensPerPass);

  // Queues a request (checked with check_request); it joins the running batch at the next step with a free slot.
  void add(GenerationRequest request, OnToken on_token = {}, OnFinish on_finish = {});
  // Admits waiting requests into free slots (their prompts in shared prefill passes, then each one's first token), then
  // one decode step of all running sequences.
  void step();
  bool idle() const { return waiting_.empty() && running_.empty(); }
  std::size_t waiting() const { return waiting_.size(); }
  std::size_t running() const { return running_.size(); }

 private:
  struct Job {
    GenerationRequest request;
    OnToken on_token;
    OnFinish on_finish;
    GenerationResult result;
    std::int64_t slot = -1, next_position = 0, last_token = 0;
    at::Generator generator;
  };
  bool accept(Job& job, std::int64_t token);  // false: the job has ended
  void finish(Job& job);
  void admit();  // one prefill pass of waiting requests into free slots

  Engine& engine_;
  std::int64_t prefill_tokens_per_pass_;
  std::deque<Job> waiting_;
  std::vector<Job> running_;
  std::vector<std::int64_t> free_slots_;
};

// Every request to completion, batched continuously; on_token(index, token) sees tokens as they come.
std::vector<GenerationResult> generate(Engine& engine, const std::vector<GenerationRequest>& requests,
                                       const std::function<bool(std::size_t index, std::int64_t token)>& on_token = {});

}  // namespace patchlm
