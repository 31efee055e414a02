// The prefill kernel's cost model and dispatch rule (kernels/prefill_cost.h): the rule takes the split and the tokens
// per output tile its model prices lowest — the cluster split only where the launch allows it, x multicast only at
// N = 256 from 1024 tokens and its stream-K tail only behind kMulticastStreamKMinWaves whole waves — and the landed
// constants pick what was timed fastest.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <tuple>
#include <utility>

#include "kernels/prefill_cost.h"
#include "prefill_case.h"

namespace patchlm {
namespace {

using Case = prefill_test::PrefillCase;

TEST(PrefillCost, TheSplitIsTheCheaperByTheCostModel) {
  // The rule takes whichever of whole tiles and stream-K the cost model prices lower — as measured on an H200 where
  // the two differ by more than the noise (docs/perf/gemm_prefill_split_sweep_h200.json).
  using kernels::PrefillSplit;
  EXPECT_FALSE(kernels::prefill_work(192, 64, 4096, 4096, 128, 128, 132).split_tail);    // 96 tiles: 18.6 vs 22.2 µs
  EXPECT_TRUE(kernels::prefill_work(64, 64, 4096, 4096, 128, 128, 132).split_tail);      // 32 tiles: 15.3 vs 18.5 µs
  EXPECT_TRUE(kernels::prefill_work(512, 256, 11008, 4096, 128, 128, 132).split_tail);   // 172 tiles: 82.6 vs 92.8 µs
  EXPECT_FALSE(kernels::prefill_work(640, 64, 1024, 4096, 128, 128, 132).split_tail);    // 80 tiles: 17.4 vs 18.4 µs
  EXPECT_FALSE(kernels::prefill_work(8192, 256, 4096, 11008, 128, 128, 132).split_tail); // 1024 = 7.76 waves
  // The cluster split joins the rule in launches captured into a CUDA graph (prefill_rule_model({.graph = true});
  // steps 23–24); then the rule takes the cheapest of three by the landed constants — as measured where the splits differ by more
  // than the noise (docs/perf/gemm_prefill_cluster4_sweep_h200.json) — and in eager launches (the landed model) never
  // a cluster split. (x multicast apart: TheRuleTakesMulticast… below.)
  const kernels::PrefillCostModel with_cluster = kernels::prefill_rule_model({.graph = true, .multicast = false});
  ASSERT_TRUE(with_cluster.cluster_in_rule);
  EXPECT_FALSE(kernels::prefill_rule_model({.graph = false}).cluster_in_rule);
  auto rule_cluster = [&](std::int64_t tokens, int n, std::int64_t rows, std::int64_t cols) {
    return kernels::prefill_work(tokens, n, rows, cols, 128, 128, 132, PrefillSplit::rule, with_cluster).cluster;
  };
  EXPECT_EQ(rule_cluster(64, 64, 2048, 4096), 4);    // 9.2 vs stream-K 12.6 µs
  EXPECT_EQ(rule_cluster(100, 104, 4096, 4096), 4);  // 12.8 vs 14.7 µs
  EXPECT_EQ(rule_cluster(80, 64, 11008, 4096), 1);   // a wave first: 22.9 vs 37.3 µs
  int clustered = 0;
  for (const Case& t : {Case{100, 4096, 4096, 104, 128, 128, 132}, Case{80, 6144, 4096, 80, 128, 128, 132},
                        Case{64, 2048, 4096, 64, 128, 128, 132}, Case{512, 11008, 4096, 256, 128, 128, 132},
                        Case{192, 4096, 4096, 64, 128, 128, 132}, Case{200, 4096, 11008, 104, 128, 128, 132},
                        Case{160, 4096, 14336, 64, 128, 128, 132}, Case{2048, 11008, 4096, 256, 128, 128, 132},
                        Case{301, 640, 2048, 128, 128, 128, 64}, Case{96, 384, 5120, 128, 64, 64, 7}}) {
    auto cost = [&](PrefillSplit split, const kernels::PrefillCostModel& model) {
      return kernels::prefill_cost(kernels::prefill_work(t.tokens, t.n, t.rows, t.cols, t.th, t.tw, t.mp, split, model), t.n, model);
    };
    const kernels::PrefillWork rule = kernels::prefill_work(t.tokens, t.n, t.rows, t.cols, t.th, t.tw, t.mp, PrefillSplit::rule, with_cluster);
    const kernels::PrefillWork cluster = kernels::prefill_work(t.tokens, t.n, t.rows, t.cols, t.th, t.tw, t.mp, PrefillSplit::cluster);
    const double cheaper_of_two = std::min(cost(PrefillSplit::whole, with_cluster), cost(PrefillSplit::stream_k, with_cluster));
    const double cheapest = std::min(cheaper_of_two, cluster.cluster > 1 ? cost(PrefillSplit::cluster, with_cluster) : 1e300);
    EXPECT_DOUBLE_EQ(cost(PrefillSplit::rule, with_cluster), cheapest) << t.tokens << " tokens, " << t.rows << "x" << t.cols;
    clustered += rule.cluster > 1;
    const kernels::PrefillCostModel eager = kernels::prefill_rule_model({.graph = false, .multicast = false});
    EXPECT_DOUBLE_EQ(cost(PrefillSplit::rule, eager), cheaper_of_two) << t.tokens << " tokens, " << t.rows << "x" << t.cols;
    EXPECT_EQ(kernels::prefill_work(t.tokens, t.n, t.rows, t.cols, t.th, t.tw, t.mp, PrefillSplit::rule, eager).cluster, 1)
        << "not in an eager launch";
  }
  EXPECT_GE(clustered, 2);
}

// The rule weighs x multicast in clusters of 2 at the model's N and token counts, where it allows it, and takes it where it
// prices lower: whole waves of clusters at the multicast step cost per step, which goes from multicast_step_cost (a
// dense weight) to multicast_two_four_step_cost (all 2:4 tiles) with the weight's 2:4 tile share, plus
// multicast_prologue steps once.
TEST(PrefillCost, TheRuleTakesMulticastWhereItsStepsAreCheaper) {
  const Case t{2048, 4096, 4096, 256, 128, 128, 132};  // 256 output tiles: 2 waves whole, 2 of 66 clusters of 2
  const auto rule = [&](const kernels::PrefillCostModel& model, int n) {
    return kernels::prefill_work(t.tokens, n, t.rows, t.cols, t.th, t.tw, t.mp, kernels::PrefillSplit::rule, model);
  };
  kernels::PrefillCostModel model = kernels::kPrefillCostModel;
  model.multicast_step_cost = 1.1, model.multicast_two_four_step_cost = 0.7;
  model.two_four_share = 0.5;  // a step at 0.9
  const kernels::PrefillWork w = rule(model, t.n);
  EXPECT_EQ(w.multicast, 2);
  EXPECT_EQ(w.ctas, 132);
  EXPECT_NEAR(kernels::prefill_cost(w, t.n, model),
              kernels::prefill_step_cost(t.n, model) * (0.9 * 2 * t.cols / 128 + model.multicast_prologue), 1e-9);
  EXPECT_EQ(rule(model, 128).multicast, 1);  // only at N = 256 (the model's multicast_tokens_per_tile)…
  model.multicast_tokens_per_tile = 0;        // …or at every N with a multicast kernel
  EXPECT_EQ(rule(model, 128).multicast, 2);
  EXPECT_EQ(rule(model, 136).multicast, 1);   // none built: N not a multiple of 32
  model.multicast_min_tokens = t.tokens + 1;  // and from the model's fewest tokens
  EXPECT_EQ(rule(model, 128).multicast, 1);
  EXPECT_EQ(rule(model, t.n).multicast, 1);
  model.multicast_tokens_per_tile = kernels::kPrefillCostModel.multicast_tokens_per_tile;
  model.multicast_min_tokens = kernels::kPrefillCostModel.multicast_min_tokens;
  model.two_four_share = 0;                  // a step at 1.1: dearer than whole tiles
  EXPECT_EQ(rule(model, t.n).multicast, 1);
  model.two_four_share = 1;
  EXPECT_EQ(rule(model, t.n).multicast, 2);
  model.multicast_in_rule = false;
  EXPECT_EQ(rule(model, t.n).multicast, 1);
  // The last wave by stream-K over the clusters where that prices lower: 11008×4096 at 2048 tokens is 344 cluster
  // tiles on 66 clusters, 5 waves and 14 tiles of 32 steps — whole, a sixth wave; by stream-K, 7 steps a cluster at
  // stream_k_step_cost each, the multicast step's cost, and the exchange.
  const Case tall{2048, 11008, 4096, 256, 128, 128, 132};
  model = kernels::kPrefillCostModel;
  model.two_four_share = 1;
  const double f = kernels::multicast_step_factor(model);
  const kernels::PrefillWork streamed =
      kernels::prefill_work(tall.tokens, tall.n, tall.rows, tall.cols, tall.th, tall.tw, tall.mp, kernels::PrefillSplit::rule, model);
  EXPECT_EQ(kernels::split_as_run(streamed), kernels::PrefillSplit::multicast_2_stream_k);
  EXPECT_EQ(streamed.stream_ctas, 132);
  EXPECT_NEAR(kernels::prefill_cost(streamed, tall.n, model),
              kernels::prefill_step_cost(tall.n, model) * (5 * 32 * f + model.multicast_prologue +
                                                           model.stream_k_step_cost * 7 * f + model.stream_k_exchange),
              1e-9);
  model.multicast_stream_k_in_rule = false;  // bench --no-multicast-stream-k: whole cluster tiles
  EXPECT_EQ(kernels::split_as_run(kernels::prefill_work(tall.tokens, tall.n, tall.rows, tall.cols, tall.th, tall.tw, tall.mp,
                                                        kernels::PrefillSplit::rule, model)),
            kernels::PrefillSplit::multicast_2);
  // prefill_rule_model: the share it is given, multicast only where asked (bench --no-x-multicast), its stream-K tail
  // likewise (--no-multicast-stream-k).
  EXPECT_DOUBLE_EQ(kernels::prefill_rule_model({.graph = true, .two_four_share = 0.25}).two_four_share, 0.25);
  EXPECT_TRUE(kernels::prefill_rule_model({.graph = true}).multicast_in_rule);
  EXPECT_TRUE(kernels::prefill_rule_model({.graph = true}).multicast_stream_k_in_rule);
  EXPECT_FALSE(kernels::prefill_rule_model({.graph = true, .two_four_share = 1, .multicast = false}).multicast_in_rule);
  EXPECT_FALSE(
      kernels::prefill_rule_model({.graph = true, .two_four_share = 1, .multicast_stream_k = false}).multicast_stream_k_in_rule);
}

// The landed model (docs/performance.md step 27, fitted to the H100 timings docs/perf/gemm_prefill_multicast_*_h100.json):
// x multicast for weights of 2:4 tiles from 2048 tokens on the LLaMA shapes; never below 1024 tokens (not timed);
// not for one wave of 4096×4096 at 1024 tokens (0.96× as timed at σ = 50 %). Its last wave by stream-K over the
// clusters where whole cluster tiles would leave most of a wave idle (11008×4096 at 2048 tokens: 5.2 waves of cluster
// tiles) — priced, like the plain stream-K tail, by stream_k_step_cost and stream_k_exchange.
TEST(PrefillCost, TheLandedRuleSharesXWhereItWasTimedFaster) {
  const auto rule = [](std::int64_t tokens, std::int64_t rows, std::int64_t cols, double share) {
    const kernels::PrefillCostModel model = kernels::prefill_rule_model({.graph = true, .two_four_share = share});
    const int n = kernels::prefill_tokens_per_tile(128, 128, tokens, rows, cols, 132, model);
    return kernels::prefill_work(tokens, n, rows, cols, 128, 128, 132, kernels::PrefillSplit::rule, model);
  };
  for (const auto& [rows, cols] : {std::pair{4096, 4096}, std::pair{12288, 4096}, std::pair{11008, 4096}, std::pair{22016, 4096},
                                   std::pair{4096, 11008}, std::pair{6144, 4096}, std::pair{28672, 4096}, std::pair{4096, 14336}})
    for (double share : {0.0, 0.5, 1.0}) {
      SCOPED_TRACE(testing::Message() << rows << "x" << cols << ", 2:4 share " << share);
      for (int tokens : {64, 256, 512, 768, 1000}) EXPECT_EQ(rule(tokens, rows, cols, share).multicast, 1) << tokens;
      if (share == 1)
        for (int tokens : {2048, 8192}) {
          const kernels::PrefillWork w = rule(tokens, rows, cols, share);
          EXPECT_EQ(w.multicast, 2) << tokens;
          const bool short_last_wave = (rows == 11008 || rows == 22016) ? tokens == 2048 : rows == 12288 || rows == 28672 ? tokens == 8192 : false;
          EXPECT_EQ(w.split_tail, short_last_wave) << tokens;
        }
    }
  EXPECT_EQ(rule(1024, 4096, 4096, 1.0).multicast, 1);
  // The stream-K tail only behind kMulticastStreamKMinWaves whole waves: 4096×14336 at 1536 tokens is one wave of 66
  // cluster tiles and 30 more, which the model prices cheaper by stream-K but ran 1.06–1.09× slower that way.
  for (double share : {0.5, 1.0}) {
    const kernels::PrefillWork w = rule(1536, 4096, 14336, share);
    EXPECT_FALSE(w.multicast > 1 && w.split_tail) << share;
  }
}

// Tokens per output tile (prefill_work.h): where the weight's shape is known, the N whose cheaper split the cost model
// prices lowest (the smaller N on a tie); where it is not, 64 up to 64 tokens and for an odd number of 64-token tiles,
// 256 from 1024, else 128; always 128 for the tile shapes without the other kernels.
TEST(PrefillCost, TokensPerTileAreTheCheapestByTheCostModel) {
  auto padded = [](std::int64_t tokens, int n) { return (tokens + n - 1) / n * n; };
  for (std::int64_t tokens = 1; tokens <= 2100; ++tokens) {
    const bool pads_less = padded(tokens, 64) < padded(tokens, 128);
    const int unknown_shape = tokens >= 1024                ? kernels::kLargeTokensPerTile
                              : tokens <= 64 || pads_less ? kernels::kSmallTokensPerTile
                                                          : kernels::kTokensPerTile;
    EXPECT_EQ(kernels::prefill_tokens_per_tile(128, 128, tokens), unknown_shape) << tokens << " tokens";
    for (const auto [rows, cols, sms] : {std::tuple{11008, 4096, 132}, std::tuple{4096, 4096, 132},
                                         std::tuple{4096, 11008, 132}, std::tuple{1024, 4096, 132},
                                         std::tuple{4096, 4096, 16}}) {
      for (const bool graph : {false, true}) {  // the rule of an eager launch, and of one captured into a graph
        const kernels::PrefillCostModel model = kernels::prefill_rule_model({.graph = graph});
        const int picked = kernels::prefill_tokens_per_tile(128, 128, tokens, rows, cols, sms, model);
        auto cost = [&](int n) {
          return kernels::prefill_cost(
              kernels::prefill_work(tokens, n, rows, cols, 128, 128, sms, kernels::PrefillSplit::rule, model), n, model);
        };
        for (int n : kernels::kTokensPerTileChoices)
          EXPECT_LE(cost(picked), cost(n)) << tokens << " tokens, " << rows << "x" << cols << ", " << sms << " SMs"
                                           << (graph ? ", in a graph" : "") << ": " << picked << " costs more than " << n;
      }
    }
    EXPECT_EQ(kernels::prefill_tokens_per_tile(64, 128, tokens, 4096, 4096, 132), kernels::kTokensPerTile) << tokens;
  }
  // The measured fastest where it stands out (docs/perf/gemm_prefill_split_sweep_h200.json, µs at σ = 25 %; the
  // steps of 32: gemm_prefill_tile_tokens_sweep_h200.json, σ = 35 %, against the fastest of 64, 128 and 256).
  EXPECT_EQ(kernels::prefill_tokens_per_tile(128, 128, 64, 4096, 4096, 132), 64);     // stream-K: 15.3, 128: 19.6
  EXPECT_EQ(kernels::prefill_tokens_per_tile(128, 128, 192, 4096, 11008, 132), 192);  // stream-K: 35.6 (64: 44.7)
  EXPECT_EQ(kernels::prefill_tokens_per_tile(128, 128, 192, 28672, 4096, 132), 192);  // 224 whole tiles: 75.7 (106.1)
  EXPECT_EQ(kernels::prefill_tokens_per_tile(128, 128, 192, 6144, 4096, 132), 96);    // 96 whole tiles: 20.7 (28.6)
  EXPECT_EQ(kernels::prefill_tokens_per_tile(128, 128, 640, 4096, 4096, 132), 160);   // 128 whole tiles: 31.9 (40.9)
  EXPECT_EQ(kernels::prefill_tokens_per_tile(128, 128, 128, 11008, 4096, 132), 128);  // 86 whole tiles: 30.5 (was 32.1)
  EXPECT_EQ(kernels::prefill_tokens_per_tile(128, 128, 256, 14336, 4096, 132), 256);  // 112 whole tiles: 55.4 (was 64.4)
  EXPECT_EQ(kernels::prefill_tokens_per_tile(128, 128, 1024, 1024, 4096, 132), 64);   // 128 whole tiles: 17.9 (was 27.1)
  EXPECT_EQ(kernels::prefill_tokens_per_tile(128, 128, 2048, 4096, 4096, 132), 256);  // large M: 256 (step 11)
  EXPECT_EQ(kernels::prefill_tokens_per_tile(128, 128, 8192, 11008, 4096, 132), 256);
}

}  // namespace
}  // namespace patchlm
