// The generation engine against the Decoder it was built from (CPU, f32): prefill and decode logits, batched prefill
// and decode against one-by-one, continuous batching through generate(), for every family's deltas.
#include "engine/engine.h"

#include <gtest/gtest.h>

#include "engine/generation.h"
#include "engine/tiny_models.h"
#include "util/error.h"

namespace patchlm {
namespace {

using testing::tiny_checkpoint;

std::unique_ptr<Decoder> decoder_of(const Checkpoint& c) { return std::make_unique<Decoder>(c, at::kFloat, at::kCPU); }

EngineOptions engine_options(std::int64_t max_batch, std::int64_t max_context) {
  EngineOptions o;
  o.max_batch = max_batch;
  o.max_context = max_context;
  return o;
}

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
  const EngineOptions o = engine_options(3, 32);
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
  const EngineOptions o = engine_options(3, 24);
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

// One prefill pass of several prompts — lengths sharing an attention batch (5, 6, 7: padded to 7) and alone (1, 3,
// 12), slots out of order, Gemma-3's sliding window (4) shorter than most — gives each prompt's logits and cache as
// its own pass does: the logits, and then decode steps that read the cache.
TEST_P(EngineFamilies, OnePrefillPassOfSeveralPromptsEqualsOneByOne) {
  const Checkpoint c = tiny_checkpoint(GetParam(), 5);
  const EngineOptions o = engine_options(6, 24);
  Engine together(decoder_of(c), o), alone(decoder_of(c), o);
  const std::vector<std::vector<std::int64_t>> prompts = {
      {4, 5, 6, 7, 8}, {1}, {10, 11, 12, 13, 14, 15, 16}, {20, 21, 22}, {30, 31, 32, 33, 34, 35}, {40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51}};
  const std::vector<std::int64_t> slots = {3, 0, 5, 1, 4, 2};
  const at::Tensor got = together.prefill(slots, prompts);
  ASSERT_EQ(got.sizes(), (std::vector<std::int64_t>{6, together.config().vocab_size}));
  std::vector<std::int64_t> next, positions;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    const at::Tensor want = alone.prefill(slots[i], prompts[i]);
    EXPECT_TRUE(at::allclose(got[static_cast<std::int64_t>(i)], want, 1e-4, 1e-5))
        << "prompt " << i << ": " << (got[static_cast<std::int64_t>(i)] - want).abs().max().item<float>();
    next.push_back(60 + static_cast<std::int64_t>(i));
    positions.push_back(static_cast<std::int64_t>(prompts[i].size()));
  }
  for (int step = 0; step < 3; ++step) {
    const at::Tensor a = together.decode(next, positions, slots), b = alone.decode(next, positions, slots);
    EXPECT_TRUE(at::allclose(a, b, 1e-4, 1e-5)) << "step " << step << ": " << (a - b).abs().max().item<float>();
    for (std::size_t i = 0; i < next.size(); ++i) ++next[i], ++positions[i];
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

// How many prompts share a prefill pass changes nothing generated: a budget of one token per pass (each prompt
// alone) and the default (all together) give the same greedy tokens.
TEST(Engine, PrefillPassBudgetDoesNotChangeWhatIsGenerated) {
  const Checkpoint c = tiny_checkpoint(Family::qwen2, 6);
  const EngineOptions o = engine_options(4, 20);
  std::vector<std::vector<std::int64_t>> out[2];
  for (int run = 0; run < 2; ++run) {
    Engine engine(decoder_of(c), o);
    Batcher batcher(engine, run == 0 ? 1 : kPrefillTokensPerPass);
    out[run].resize(6);
    for (int i = 0; i < 6; ++i) {
      GenerationRequest r;
      for (int t = 0; t <= i; ++t) r.prompt.push_back(3 + 11 * i + t);
      r.options.max_new_tokens = 4;
      r.options.stop_at_eos = false;
      batcher.add(r, {}, [&out, run, i](const GenerationResult& g) { out[run][i] = g.tokens; });
    }
    while (!batcher.idle()) batcher.step();
  }
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(out[0][i], out[1][i]) << "request " << i;
    EXPECT_EQ(out[1][i].size(), 4u);
  }
  Engine engine(decoder_of(c), o);
  EXPECT_THROW(Batcher(engine, 0), Error);
}

// The prefill graphs' token buckets: steps of 16 up to 256, of 64 beyond, none past the limit; every bucket holds
// its prompt with fewer padding rows than one step.
TEST(Engine, PrefillBucketsRoundUpWithinTheLimit) {
  const std::vector<std::pair<std::int64_t, std::int64_t>> cases = {{1, 16},    {16, 16},   {17, 32},  {100, 112},
                                                                    {256, 256}, {257, 320}, {500, 512}, {512, 512}};
  for (const auto& [tokens, bucket] : cases) EXPECT_EQ(prefill_bucket(tokens, 512), bucket) << tokens << " tokens";
  EXPECT_EQ(prefill_bucket(513, 512), 0);
  EXPECT_EQ(prefill_bucket(100, 100), 0);  // 112 rows would pass the limit (e.g. the context)
  EXPECT_EQ(prefill_bucket(5, 0), 0);      // graphs off
  EXPECT_EQ(prefill_bucket(0, 512), 0);
  for (std::int64_t t = 1; t <= 512; ++t) {
    const std::int64_t b = prefill_bucket(t, 512);
    EXPECT_TRUE(b >= t && b - t < (t <= 256 ? 16 : 64)) << t << " tokens -> " << b;
  }
}

TEST(Engine, BadRequestsAreErrors) {
  const Checkpoint c = tiny_checkpoint(Family::llama, 4);
  const EngineOptions o = engine_options(2, 8);
  Engine engine(decoder_of(c), o);
  EXPECT_THROW(engine.prefill(0, {}), Error);
  EXPECT_THROW(engine.prefill(0, std::vector<std::int64_t>(9, 3)), Error);
  EXPECT_THROW(engine.prefill(2, {1}), Error);
  EXPECT_THROW(engine.prefill(0, {96}), Error);
  EXPECT_THROW(engine.prefill(std::vector<std::int64_t>{0, 0}, {{1}, {2}}), Error);  // a slot twice
  EXPECT_THROW(engine.prefill(std::vector<std::int64_t>{0}, {{1}, {2}}), Error);     // a prompt without a slot
  EXPECT_THROW(engine.prefill(std::vector<std::int64_t>{}, {}), Error);
  EXPECT_THROW(engine.prefill(std::vector<std::int64_t>{0, 1}, {{1}, {}}), Error);   // an empty prompt among others
  EXPECT_THROW(engine.decode({1, 2}, {0, 0}, {1, 1}), Error);
  EXPECT_THROW(engine.decode({1}, {8}, {0}), Error);
  GenerationRequest r;
  r.prompt = std::vector<std::int64_t>(8, 3);
  EXPECT_THROW(generate(engine, {r}), Error);
}

}  // namespace
}  // namespace patchlm
