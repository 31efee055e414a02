#include "engine/generation.h"

#include <algorithm>

#include "util/error.h"

namespace patchlm {

const char* finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::length: return "length";
    case FinishReason::stop: return "stop";
    case FinishReason::context: return "context";
    case FinishReason::cancelled: return "cancelled";
  }
  return "?";
}

void check_request(const Engine& engine, const GenerationRequest& r) {
  if (r.prompt.empty()) throw Error("generate: the prompt has no tokens");
  if (static_cast<std::int64_t>(r.prompt.size()) >= engine.max_context())
    throw Error(str_cat("generate: the prompt has ", r.prompt.size(), " tokens; the context holds ", engine.max_context()));
  if (r.options.max_new_tokens < 0) throw Error("generate: --max-new-tokens must be >= 0");
  for (std::int64_t id : r.prompt) check_token_id(id, engine.config().vocab_size);
}

Batcher::Batcher(Engine& engine, std::int64_t prefill_tokens_per_pass)
    : engine_(engine), prefill_tokens_per_pass_(prefill_tokens_per_pass) {
  if (prefill_tokens_per_pass < 1) throw Error("generate: the prefill pass must take at least one token");
  for (std::int64_t s = engine.max_batch() - 1; s >= 0; --s) free_slots_.push_back(s);
}

void Batcher::add(GenerationRequest request, OnToken on_token, OnFinish on_finish) {
  check_request(engine_, request);
  Job job;
  job.generator = sequence_generator(request.options);
  job.request = std::move(request);
  job.on_token = std::move(on_token);
  job.on_finish = std::move(on_finish);
  if (job.request.options.max_new_tokens == 0) {
    finish(job);
    return;
  }
  waiting_.push_back(std::move(job));
}

void Batcher::finish(Job& job) {
  if (job.slot >= 0) free_slots_.push_back(job.slot);
  job.slot = -1;
  if (job.on_finish) job.on_finish(job.result);
}

bool Batcher::accept(Job& job, std::int64_t token) {
  const GenerationRequest& req = job.request;
  GenerationResult& out = job.result;
  out.tokens.push_back(token);
  const auto& eos = engine_.config().eos_token_ids;
  const bool go_on = !job.on_token || job.on_token(token);
  if (!go_on) {
    out.finish = FinishReason::cancelled;
    return false;
  }
  if ((req.options.stop_at_eos && std::find(eos.begin(), eos.end(), token) != eos.end()) ||
      std::find(req.stop_tokens.begin(), req.stop_tokens.end(), token) != req.stop_tokens.end()) {
    out.finish = FinishReason::stop;
    return false;
  }
  if (static_cast<std::int64_t>(out.tokens.size()) >= req.options.max_new_tokens) {
    out.finish = FinishReason::length;
    return false;
  }
  if (job.next_position >= engine_.max_context()) {
    out.finish = FinishReason::context;
    return false;
  }
  job.last_token = token;
  return true;
}

void Batcher::admit() {
  std::vector<Job> admitted;
  std::vector<std::int64_t> slots;
  std::vector<std::vector<std::int64_t>> prompts;
  std::int64_t tokens = 0;
  while (!waiting_.empty() && !free_slots_.empty()) {
    const auto length = static_cast<std::int64_t>(waiting_.front().request.prompt.size());
    if (!joins_prefill_pass(tokens, length, prefill_tokens_per_pass_)) break;
    Job job = std::move(waiting_.front());
    waiting_.pop_front();
    job.slot = free_slots_.back();
    free_slots_.pop_back();
    job.next_position = length;
    tokens += length;
    slots.push_back(job.slot);
    prompts.push_back(job.request.prompt);
    admitted.push_back(std::move(job));
  }
  const at::Tensor logits = engine_.prefill(slots, prompts);
  const at::Tensor greedy = logits.argmax(-1).to(at::kCPU);  // one transfer for every greedy request
  for (std::size_t i = 0; i < admitted.size(); ++i) {
    Job& job = admitted[i];
    const auto row = static_cast<std::int64_t>(i);
    const GenerateOptions& o = job.request.options;
    const std::int64_t token = o.greedy() ? greedy[row].item<std::int64_t>() : pick_token(logits[row], o, job.generator);
    if (accept(job, token)) {
      running_.push_back(std::move(job));
    } else {
      finish(job);
    }
  }
}

void Batcher::step() {
  // Admit waiting requests into free slots, as many per prefill pass as its token budget takes.
  while (!waiting_.empty() && !free_slots_.empty()) admit();
  if (running_.empty()) return;
  std::vector<std::int64_t> tokens, positions, slots;
  for (const Job& j : running_) {
    tokens.push_back(j.last_token);
    positions.push_back(j.next_position);
    slots.push_back(j.slot);
  }
  const at::Tensor logits = engine_.decode(tokens, positions, slots);
  // Greedy rows from one argmax over the batch (one transfer); sampled rows each from their own generator.
  const at::Tensor greedy = logits.argmax(-1).to(at::kCPU);
  std::vector<Job> still;
  for (std::size_t b = 0; b < running_.size(); ++b) {
    Job& j = running_[b];
    const GenerateOptions& o = j.request.options;
    const std::int64_t token = o.greedy() ? greedy[static_cast<std::int64_t>(b)].item<std::int64_t>()
                                          : pick_token(logits[static_cast<std::int64_t>(b)], o, j.generator);
    ++j.next_position;
    if (accept(j, token)) {
      still.push_back(std::move(j));
    } else {
      finish(j);
    }
  }
  running_ = std::move(still);
}

std::vector<GenerationResult> generate(Engine& engine, const std::vector<GenerationRequest>& requests,
                                       const std::function<bool(std::size_t, std::int64_t)>& on_token) {
  for (const GenerationRequest& r : requests) check_request(engine, r);
  std::vector<GenerationResult> results(requests.size());
  Batcher batcher(engine);
  for (std::size_t i = 0; i < requests.size(); ++i) {
    OnToken report;
    if (on_token) report = [&on_token, i](std::int64_t t) { return on_token(i, t); };
    batcher.add(requests[i], report, [&results, i](const GenerationResult& r) { results[i] = r; });
  }
  while (!batcher.idle()) batcher.step();
  return results;
}

}  // namespace patchlm
