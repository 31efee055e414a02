// The generation engine against the Decoder it was built from (CPU, f32): prefill and decode logits, batched decode
// against one-by-one, continuous batching through generate(), for every family's deltas.
#include "engine/engine.h"

#include <gtest/gtest.h>

#include "engine/generation.h"
#include "engine/tiny_models.h"
#include "util/error.h"

namespace patchlm {
namespace {

using testing::tiny_checkpoint;

std::unique_ptr<Decoder> decoder_of(const Checkpoint& c) { return std::make_unique<Decoder>(c, at::kFloat, at::kCPU); }

// Logits of the Decoder for `prompt` and then each of `next` fed one at a time with its KV cache: [steps, vocab].
at::Tensor decoder_logits(const Decoder& d, const std::vector<std::int64_t>& prompt, const std::vector<std::int64_t>& next) {
  KvCache cache;
  std::vector<at::Tensor> rows;
  rows.push_back(d.forward(at::tensor(prompt, at::kLong).unsqueeze(0), &cache)[0][-1]);
  for (std::int64_t t : next) rows.push_back(d.forward(at::tensor(std::vector<std::int64_t>{t}, at::kLong).unsqueeze(0), &cache)[0][-1]);
  return at::stack(rows);
}

class EngineFamilies : public ::testing::TestWithParam<Family> {};

TEST_P(EngineFamilies, PrefillAndDecodeMatchTheDecoder) {
  const Checkpoint c = tiny_checkpoint(GetParam(), 1);
  const auto reference = decoder_of(c);
  EngineOptions o;
  o.max_batch = 3;
  o.max_context = 32;
  Engine engine(decoder_of(c), o);
  const std::vector<std::int64_t> prompt = {5, 17, 3, 44, 9, 12};  // longer than the sliding window (4)
  const std::vector<std::int64_t> next = {7, 8, 90, 2, 33, 61};
  const at::Tensor want = decoder_logits(*reference, prompt, next);
  at::Tensor got_prefill = engine.prefill(1, prompt);
  EXPECT_TRUE(at::allclose(got_prefill, want[0], 1e-4, 1e-5)) << (got_prefill - want[0]).abs().max().item<float>();
  for (std::size_t i = 0; i < next.size(); ++i) {
    const at::Tensor got = engine.decode({next[i]}, {static_cast<std::int64_t>(prompt.size() + i)}, {1})[0];
    EXPECT_TRUE(at::allclose(got, want[i + 1], 1e-4, 1e-5)) << "step " << i << ": "
                                                            << (got - want[i + 1]).abs().max().item<float>();
  }
}

TEST_P(EngineFamilies, BatchedDecodeEqualsOneByOneAtDifferentLengths) {
  const Checkpoint c = tiny_checkpoint(GetParam(), 2);
  EngineOptions o;
  o.max_batch = 3;
  o.max_context = 24;
  Engine batched(decoder_of(c), o), single(decoder_of(c), o);
  const std::vector<std::vector<std::int64_t>> prompts = {{4, 5, 6}, {10, 11, 12, 13, 14, 15, 16}, {20}};
  const std::vector<std::int64_t> slots = {2, 0, 1};
  std::vector<std::int64_t> tokens, positions;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    batched.prefill(slots[i], prompts[i]);
    tokens.push_back(30 + static_cast<std::int64_t>(i));
    positions.push_back(static_cast<std::int64_t>(prompts[i].size()));
  }
  for (int step = 0; step < 4; ++step) {
    const at::Tensor together = batched.decode(tokens, positions, slots).clone();
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      std::vector<std::int64_t> history = prompts[i];
      single.prefill(0, history);
      at::Tensor alone;
      for (int s = 0; s <= step; ++s) alone = single.decode({30 + static_cast<std::int64_t>(i) + s}, {positions[i] - step + s}, {0});
      EXPECT_TRUE(at::allclose(together[static_cast<std::int64_t>(i)], alone[0], 1e-4, 1e-5)) << "sequence " << i << " step " << step;
    }
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      ++tokens[i];
      ++positions[i];
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Families, EngineFamilies, ::testing::Values(Family::llama, Family::qwen2, Family::gemma3),
                         [](const auto& info) { return std::string(traits(info.param).model_type); });

TEST(Engine, GenerateBatchesContinuouslyAndMatchesSequentialGreedy) {
  const Checkpoint c = tiny_checkpoint(Family::llama, 3);
  std::vector<GenerationRequest> requests;
  for (int i = 0; i < 5; ++i) {
    GenerationRequest r;
    r.prompt = {static_cast<std::int64_t>(2 + i), static_cast<std::int64_t>(40 + i), 7};
    r.options.max_new_tokens = 3 + i;  // different lengths: slots are refilled while others run
    r.options.stop_at_eos = false;
    requests.push_back(r);
  }
  EngineOptions two;
  two.max_batch = 2;
  two.max_context = 16;
  Engine engine(decoder_of(c), two);
  std::vector<std::vector<std::int64_t>> streamed(requests.size());
  const auto together = generate(engine, requests, [&](std::size_t i, std::int64_t t) {
    streamed[i].push_back(t);
    return true;
  });
  for (std::size_t i = 0; i < requests.size(); ++i) {
    EngineOptions one;
    one.max_context = 16;
    Engine alone(decoder_of(c), one);
    const auto want = generate(alone, {requests[i]});
    EXPECT_EQ(together[i].tokens, want[0].tokens) << "request " << i;
    EXPECT_EQ(streamed[i], want[0].tokens);
    EXPECT_EQ(together[i].tokens.size(), static_cast<std::size_t>(requests[i].options.max_new_tokens));
    EXPECT_EQ(together[i].finish, FinishReason::length);
  }
}

TEST(Engine, BadRequestsAreErrors) {
  const Checkpoint c = tiny_checkpoint(Family::llama, 4);
  EngineOptions o;
  o.max_batch = 2;
  o.max_context = 8;
  Engine engine(decoder_of(c), o);
  EXPECT_THROW(engine.prefill(0, {}), Error);
  EXPECT_THROW(engine.prefill(0, std::vector<std::int64_t>(9, 3)), Error);
  EXPECT_THROW(engine.prefill(2, {1}), Error);
  EXPECT_THROW(engine.prefill(0, {96}), Error);
  EXPECT_THROW(engine.decode({1, 2}, {0, 0}, {1, 1}), Error);
  EXPECT_THROW(engine.decode({1}, {8}, {0}), Error);
  GenerationRequest r;
  r.prompt = std::vector<std::int64_t>(8, 3);
  EXPECT_THROW(generate(engine, {r}), Error);
}

}  // namespace
}  // namespace patchlm
