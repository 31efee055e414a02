#include "engine/generation.h"

#include <algorithm>
#include <deque>

#include "util/error.h"

namespace patchlm {
namespace {

struct Running {
  std::size_t index;
  std::int64_t slot, next_position, last_token;
  at::Generator generator;
};

}  // namespace

const char* finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::length: return "length";
    case FinishReason::stop: return "stop";
    case FinishReason::context: return "context";
  }
  return "?";
}

std::vector<GenerationResult> generate(Engine& engine, const std::vector<GenerationRequest>& requests,
                                       const TokenCallback& on_token) {
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const auto& r = requests[i];
    if (r.prompt.empty()) throw Error(str_cat("generate: prompt ", i, " has no tokens"));
    if (static_cast<std::int64_t>(r.prompt.size()) >= engine.max_context())
      throw Error(str_cat("generate: prompt ", i, " has ", r.prompt.size(), " tokens; the context holds ",
                          engine.max_context()));
    if (r.options.max_new_tokens < 0) throw Error("generate: --max-new-tokens must be >= 0");
  }
  std::vector<GenerationResult> results(requests.size());
  const auto& eos = engine.config().eos_token_ids;
  std::deque<std::size_t> waiting;
  for (std::size_t i = 0; i < requests.size(); ++i)
    if (requests[i].options.max_new_tokens > 0) waiting.push_back(i);
  std::vector<std::int64_t> free_slots;
  for (std::int64_t s = engine.max_batch() - 1; s >= 0; --s) free_slots.push_back(s);
  std::vector<Running> running;

  // Records `token` for a running sequence; false when the sequence has ended.
  auto accept = [&](Running& r, std::int64_t token) {
    const GenerationRequest& req = requests[r.index];
    GenerationResult& out = results[r.index];
    out.tokens.push_back(token);
    const bool go_on = !on_token || on_token(r.index, token);
    const bool stop = (req.options.stop_at_eos && std::find(eos.begin(), eos.end(), token) != eos.end()) ||
                      std::find(req.stop_tokens.begin(), req.stop_tokens.end(), token) != req.stop_tokens.end();
    if (stop || !go_on) {
      out.finish = FinishReason::stop;
      return false;
    }
    if (static_cast<std::int64_t>(out.tokens.size()) >= req.options.max_new_tokens) {
      out.finish = FinishReason::length;
      return false;
    }
    if (r.next_position >= engine.max_context()) {
      out.finish = FinishReason::context;
      return false;
    }
    r.last_token = token;
    return true;
  };

  while (!waiting.empty() || !running.empty()) {
    // Admit waiting requests into free slots: prefill, then their first token.
    while (!waiting.empty() && !free_slots.empty()) {
      const std::size_t i = waiting.front();
      waiting.pop_front();
      Running r{i, free_slots.back(), static_cast<std::int64_t>(requests[i].prompt.size()), 0,
                sequence_generator(requests[i].options)};
      free_slots.pop_back();
      const at::Tensor logits = engine.prefill(r.slot, requests[i].prompt);
      if (accept(r, pick_token(logits, requests[i].options, r.generator))) {
        running.push_back(std::move(r));
      } else {
        free_slots.push_back(r.slot);
      }
    }
    if (running.empty()) continue;
    std::vector<std::int64_t> tokens, positions, slots;
    for (const Running& r : running) {
      tokens.push_back(r.last_token);
      positions.push_back(r.next_position);
      slots.push_back(r.slot);
    }
    const at::Tensor logits = engine.decode(tokens, positions, slots);
    // Greedy rows from one argmax over the batch (one transfer); sampled rows each from their own generator.
    const at::Tensor greedy = logits.argmax(-1).to(at::kCPU);
    std::vector<Running> still;
    for (std::size_t b = 0; b < running.size(); ++b) {
      Running& r = running[b];
      const GenerateOptions& o = requests[r.index].options;
      const std::int64_t token = o.greedy() ? greedy[static_cast<std::int64_t>(b)].item<std::int64_t>()
                                            : pick_token(logits[static_cast<std::int64_t>(b)], o, r.generator);
      ++r.next_position;
      if (accept(r, token)) {
        still.push_back(std::move(r));
      } else {
        free_slots.push_back(r.slot);
      }
    }
    running = std::move(still);
  }
  return results;
}

}  // namespace patchlm
