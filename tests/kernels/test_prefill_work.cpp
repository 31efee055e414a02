// The prefill kernel's work split (kernels/prefill_split.h, prefill_work.h), walked on the host as each CTA walks it on the device:
// every (output tile, K step) is computed exactly once; a split tile has one finishing CTA, which waits for exactly
// the CTAs that contributed to it, all of them earlier CTAs (dispatched first: no deadlock even when only some CTAs
// can run at once); a CTA contributes at most once (one partial slot each), and only with its first stream-K piece; the
// shares are as even as whole steps allow — in steps, or weighed by the tiles' kinds in cost —; and the whole grid
// completes when only a few CTAs can run at a time.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include "kernels/prefill_work.h"
#include "prefill_case.h"

namespace patchlm {
namespace {

using kernels::PrefillSegment;
using Case = prefill_test::PrefillCase;

// The rule without x multicast: the walks of whole tiles and of the last wave's splits (the multicast split's walk has
// its own test, MulticastClustersWalkNeighbouringRowBlocksOfOneTokenTileTogether).
kernels::PrefillCostModel without_multicast() {
  kernels::PrefillCostModel model = kernels::kPrefillCostModel;
  model.multicast_in_rule = false;
  return model;
}

// A weight's row_step_cost_prefix with a share of its tiles 2:4, placed by a fixed pseudo-random sequence.
std::vector<std::int32_t> random_costs(const Case& t, double sparse_share, std::uint32_t seed) {
  std::vector<bool> sparse(static_cast<std::size_t>(t.rows / t.th * (t.cols / t.tw)));
  for (std::size_t i = 0; i < sparse.size(); ++i) {
    seed = seed * 1664525u + 1013904223u;
    sparse[i] = (seed >> 8) % 1000 < sparse_share * 1000;
  }
  return kernels::row_step_cost_prefix(t.rows / t.th, t.cols / t.tw, [&](std::int64_t i) { return sparse[i]; });
}

// With `costs`, the shares are weighed (weigh_stream_k_split) and must cost the same to within a step at either end.
void check_walk(const Case& t, const std::vector<std::int32_t>* costs = nullptr,
                kernels::PrefillSplit split = kernels::PrefillSplit::rule) {
  SCOPED_TRACE(testing::Message() << t.tokens << " tokens, " << t.rows << "x" << t.cols << ", " << t.mp << " SMs"
                                  << (costs ? ", weighed" : "") << ", split " << static_cast<int>(split));
  kernels::PrefillWork w = kernels::prefill_work(t.tokens, t.n, t.rows, t.cols, t.th, t.tw, t.mp, split, without_multicast());
  if (costs) kernels::weigh_stream_k_split(w, costs->data());
  const int outputs = w.token_tiles * w.row_blocks;
  ASSERT_GE(w.ctas, 1);
  ASSERT_LE(w.ctas, t.mp);
  ASSERT_EQ(w.full_waves * w.ctas + w.tail_tiles, outputs);
  std::vector<int> times(static_cast<std::size_t>(outputs) * w.tiles), finishers(outputs);
  std::vector<std::set<int>> contributors(outputs), awaited(outputs);
  std::vector<std::int64_t> stream_steps, stream_cost;
  for (int cta = 0; cta < w.ctas; ++cta) {
    kernels::PrefillWalk walk(w, cta);
    PrefillSegment s;
    int segments = 0, contributions = 0;
    bool finished = false;
    std::int64_t streamed = 0, cost = 0;
    while (walk.next(s)) {
      // The kernel gathers the contributions through its (by then idle) copy ring: nothing may follow a finish.
      EXPECT_FALSE(finished) << "a finish is the CTA's last segment";
      ASSERT_LT(s.output, outputs);
      ASSERT_LT(s.k_begin, s.k_end);
      for (int k = s.k_begin; k < s.k_end; ++k) ++times[static_cast<std::size_t>(s.output) * w.tiles + k];
      const bool in_tail = s.output >= w.full_waves * w.ctas;
      if (in_tail && w.split_tail) {
        streamed += s.k_end - s.k_begin;
        if (costs) {
          const std::int32_t* row = costs->data() + kernels::output_tile(w, s.output).row_block * (w.tiles + 1);
          cost += row[s.k_end] - row[s.k_begin];
        }
      }
      if (s.kind == PrefillSegment::whole) {
        EXPECT_EQ(s.k_begin, 0);
        EXPECT_EQ(s.k_end, w.tiles);
      } else {
        EXPECT_TRUE(in_tail && w.split_tail);
      }
      if (s.kind == PrefillSegment::contribute) {
        EXPECT_GT(s.k_begin, 0);
        EXPECT_EQ(segments, w.full_waves) << "a contribution is the CTA's first stream-K piece";
        ++contributions;
        contributors[s.output].insert(cta);
      }
      if (s.kind == PrefillSegment::finish) {
        EXPECT_EQ(s.k_begin, 0);
        EXPECT_LT(s.k_end, w.tiles);
        EXPECT_LE(s.end_contributor, cta) << "a finisher waits only for earlier (already dispatched) CTAs";
        EXPECT_LT(s.first_contributor, s.end_contributor);
        ++finishers[s.output];
        finished = true;
        for (int c = s.first_contributor; c < s.end_contributor; ++c) awaited[s.output].insert(c);
      }
      ++segments;
    }
    EXPECT_LE(contributions, 1);
    if (w.split_tail && cta < w.stream_ctas) stream_steps.push_back(streamed), stream_cost.push_back(cost);
  }
  for (int v : times) EXPECT_EQ(v, 1);
  for (int o = 0; o < outputs; ++o) {
    EXPECT_EQ(awaited[o], contributors[o]) << "output tile " << o;
    EXPECT_EQ(finishers[o], contributors[o].empty() ? 0 : 1) << "output tile " << o;
  }
  if (w.split_tail) {
    ASSERT_EQ(static_cast<int>(stream_steps.size()), w.stream_ctas);
    EXPECT_GE(*std::min_element(stream_steps.begin(), stream_steps.end()), 1) << "no share is empty";
    if (costs) {
      const auto [lo, hi] = std::minmax_element(stream_cost.begin(), stream_cost.end());
      EXPECT_LE(*hi - *lo, 2 * kernels::kDenseStepCost);
    } else {
      const auto [lo, hi] = std::minmax_element(stream_steps.begin(), stream_steps.end());
      EXPECT_LE(*hi - *lo, 1);
      EXPECT_GE(*lo, std::min<std::int64_t>(kernels::kMinStreamSteps, static_cast<std::int64_t>(w.tail_tiles) * w.tiles));
    }
  }
}

TEST(PrefillWork, EveryStepOnceEachSplitTileFinishedOnceWithoutCycles) {
  const Case cases[] = {
      {128, 11008, 4096, 128, 128, 128, 132},   // 86 output tiles on 132 SMs: whole (rule) or stream-K only
      {512, 11008, 4096, 256, 128, 128, 132},   // 172: one wave, the 40 left split
      {8192, 4096, 11008, 256, 128, 128, 132},  // 1024: 7 waves + 100 whole tiles (last wave 97 % full)
      {1024, 4096, 4096, 256, 128, 128, 132},   // 128 output tiles: one wave of 128 CTAs
      {2048, 11008, 4096, 256, 128, 128, 132},  // 688: 5 waves + 28 split
      {1031, 384, 5120, 256, 64, 64, 7},        // odd tokens, few SMs
      {301, 640, 2048, 256, 128, 128, 64},      // the GPU test's shapes
      {96, 640, 2048, 128, 64, 64, 7},
      {3, 128, 256, 128, 128, 128, 132},        // 2 steps in all: one CTA
      {4096, 128, 8192, 256, 128, 128, 20},     // 16 output tiles of 64 steps on 20 SMs
      {40 * 256, 128, 256, 256, 128, 128, 33},  // 40 tiles of 2 steps on 33 SMs: a short tail, fewer sharing CTAs
  };
  for (const Case& t : cases) {
    check_walk(t);  // the split the rule picks, then stream-K forced (the comments above say where the rule splits)
    check_walk(t, nullptr, kernels::PrefillSplit::stream_k);
    for (double share : {0.0, 0.3, 0.7, 1.0}) {
      const std::vector<std::int32_t> costs = random_costs(t, share, 17);
      check_walk(t, &costs, kernels::PrefillSplit::stream_k);
    }
  }
}

// Weighed by cost, a share with more 2:4 tiles gets more steps; with every tile of one kind the split is the even one.
TEST(PrefillWork, WeighedSharesGiveCheaperTilesMoreSteps) {
  const Case t{128, 4096, 4096, 64, 128, 128, 132};  // 64 tail tiles of 32 steps on 132 CTAs
  for (double share : {0.0, 1.0}) {
    const std::vector<std::int32_t> costs = random_costs(t, share, 5);
    kernels::PrefillWork even = kernels::prefill_work(t.tokens, t.n, t.rows, t.cols, t.th, t.tw, t.mp, kernels::PrefillSplit::stream_k),
                         weighed = even;
    kernels::weigh_stream_k_split(weighed, costs.data());
    for (int p = 0; p <= even.stream_ctas; ++p) EXPECT_NEAR(weighed.share_begin[p], even.share_begin[p], 1) << p;
  }
  // Row blocks alternately all dense and all 2:4: the 2:4 tiles' shares have 4/3 as many steps.
  const std::vector<std::int32_t> costs =
      kernels::row_step_cost_prefix(32, 32, [](std::int64_t i) { return (i / 32) % 2 == 1; });
  kernels::PrefillWork w =
      kernels::prefill_work(t.tokens, 128, t.rows, t.cols, t.th, t.tw, t.mp, kernels::PrefillSplit::stream_k);  // 32 tail tiles
  ASSERT_TRUE(w.split_tail);
  kernels::weigh_stream_k_split(w, costs.data());
  int dense_steps = 0, dense_shares = 0, sparse_steps = 0, sparse_shares = 0;
  for (int p = 0; p < w.stream_ctas; ++p) {
    const int b = w.share_begin[p], e = w.share_begin[p + 1];
    if (b / w.tiles != (e - 1) / w.tiles) continue;  // shares inside one tile only
    const bool sparse = kernels::output_tile(w, b / w.tiles).row_block % 2 == 1;
    (sparse ? sparse_steps : dense_steps) += e - b, ++(sparse ? sparse_shares : dense_shares);
  }
  ASSERT_GT(dense_shares, 0);
  ASSERT_GT(sparse_shares, 0);
  EXPECT_NEAR(static_cast<double>(sparse_steps) / sparse_shares / (static_cast<double>(dense_steps) / dense_shares), 4.0 / 3.0, 0.15);
}

// Runs the grid as the hardware would with only `slots` SMs free: CTAs start in index order as slots free up, a CTA
// advances through its segments, and a finishing segment blocks until each contributor has contributed. False when
// every running CTA is blocked (the kernel would hang).
bool completes_with_slots(const kernels::PrefillWork& w, int slots) {
  std::vector<std::vector<PrefillSegment>> programs(w.ctas);
  for (int cta = 0; cta < w.ctas; ++cta) {
    kernels::PrefillWalk walk(w, cta);
    for (PrefillSegment s; walk.next(s);) programs[cta].push_back(s);
  }
  std::vector<std::size_t> pc(w.ctas, 0);
  std::vector<bool> contributed(w.ctas, false);
  std::vector<int> running;
  int next_to_start = 0;
  while (next_to_start < w.ctas || !running.empty()) {
    while (static_cast<int>(running.size()) < slots && next_to_start < w.ctas) running.push_back(next_to_start++);
    bool progressed = false;
    for (std::size_t r = 0; r < running.size();) {
      const int cta = running[r];
      if (pc[cta] < programs[cta].size()) {
        const PrefillSegment& s = programs[cta][pc[cta]];
        bool ready = true;
        if (s.kind == PrefillSegment::finish)
          for (int c = s.first_contributor; c < s.end_contributor; ++c) ready = ready && contributed[c];
        if (ready) {
          if (s.kind == PrefillSegment::contribute) contributed[cta] = true;
          ++pc[cta];
          progressed = true;
        }
      }
      if (pc[cta] == programs[cta].size()) {
        running.erase(running.begin() + static_cast<std::ptrdiff_t>(r));
        progressed = true;
      } else {
        ++r;
      }
    }
    if (!progressed) return false;
  }
  return true;
}

TEST(PrefillWork, CompletesWhenOnlySomeCtasCanRun) {
  // Another stream's kernels may hold SMs for the whole call: the grid must finish with any number of free SMs.
  for (const Case& t : {Case{128, 11008, 4096, 128, 128, 128, 132}, Case{1024, 11008, 4096, 128, 128, 128, 132},
                        Case{301, 640, 2048, 128, 64, 64, 64}, Case{1031, 384, 5120, 128, 64, 64, 16}}) {
    kernels::PrefillWork w =
        kernels::prefill_work(t.tokens, t.n, t.rows, t.cols, t.th, t.tw, t.mp, kernels::PrefillSplit::stream_k);
    ASSERT_TRUE(w.split_tail) << t.tokens << " tokens: meant to exercise stream-K";
    for (int slots : {1, 2, 3, 17, w.ctas})
      EXPECT_TRUE(completes_with_slots(w, slots)) << t.tokens << " tokens, " << t.rows << " rows, " << slots << " SMs free";
    const std::vector<std::int32_t> costs = random_costs(t, 0.6, 3);
    kernels::weigh_stream_k_split(w, costs.data());
    for (int slots : {1, 2, 17, w.ctas})
      EXPECT_TRUE(completes_with_slots(w, slots)) << t.tokens << " tokens, weighed, " << slots << " SMs free";
  }
}

TEST(PrefillWork, ForcedSplitsWalkEveryStepOnce) {
  // Forced whole tiles leave the last wave short instead of splitting it; forced stream-K splits any tail (none when
  // the tiles fill whole waves); either walk computes every step once.
  using kernels::PrefillSplit;
  for (const Case& t : {Case{192, 4096, 4096, 64, 128, 128, 132}, Case{128, 4096, 11008, 128, 128, 128, 132},
                        Case{1024, 4096, 11008, 256, 128, 128, 132}, Case{512, 11008, 4096, 256, 128, 128, 132},
                        Case{64, 1024, 4096, 64, 128, 128, 132}, Case{264, 4096, 4096, 8, 128, 128, 132}}) {
    const std::int64_t outputs = (t.tokens + t.n - 1) / t.n * (t.rows / t.th);
    const kernels::PrefillWork whole = kernels::prefill_work(t.tokens, t.n, t.rows, t.cols, t.th, t.tw, t.mp, PrefillSplit::whole);
    EXPECT_FALSE(whole.split_tail) << t.tokens << " tokens, " << t.rows << " rows";
    EXPECT_EQ(whole.ctas, std::min<std::int64_t>(outputs, t.mp));
    const kernels::PrefillWork split =
        kernels::prefill_work(t.tokens, t.n, t.rows, t.cols, t.th, t.tw, t.mp, PrefillSplit::stream_k);
    EXPECT_EQ(split.split_tail, outputs % t.mp != 0) << t.tokens << " tokens, " << t.rows << " rows";
    check_walk(t, nullptr, PrefillSplit::whole);
    check_walk(t, nullptr, PrefillSplit::stream_k);
  }
}

// The cluster split (PrefillWork::cluster): every step once; each tail tile's K steps shared by the ranks 0 … c − 1 of
// one cluster — the CTAs c · q … c · q + c − 1 — in rank order, each rank's share its CTA's last segment, non-empty
// and (weighed) costing a c-th of its tile to within a step at either end; so no CTA waits for one outside its cluster.
void check_cluster_walk(const Case& t, const std::vector<std::int32_t>* costs, int cluster) {
  SCOPED_TRACE(testing::Message() << t.tokens << " tokens, " << t.rows << "x" << t.cols << ", N " << t.n << ", " << t.mp
                                  << " SMs" << (costs ? ", weighed" : ""));
  kernels::PrefillWork w = kernels::prefill_work(t.tokens, t.n, t.rows, t.cols, t.th, t.tw, t.mp, kernels::PrefillSplit::cluster);
  ASSERT_EQ(w.cluster, cluster);
  if (costs) kernels::weigh_stream_k_split(w, costs->data());
  const int outputs = w.token_tiles * w.row_blocks, c = w.cluster;
  ASSERT_EQ(w.full_waves * w.ctas + w.tail_tiles, outputs);
  ASSERT_LE(w.ctas, t.mp);
  if (c == 1) {
    EXPECT_FALSE(w.split_tail) << "no cluster fits: whole tiles";
    return;
  }
  EXPECT_TRUE(w.split_tail);
  EXPECT_EQ(w.ctas % c, 0) << "a grid of whole clusters";
  EXPECT_EQ(w.stream_ctas, w.tail_tiles * c);
  EXPECT_LE(w.stream_ctas, w.ctas);
  std::vector<int> times(static_cast<std::size_t>(outputs) * w.tiles, 0);
  std::vector<std::vector<std::pair<int, int>>> parts(w.tail_tiles, std::vector<std::pair<int, int>>(c, {-1, -1}));
  for (int cta = 0; cta < w.ctas; ++cta) {
    kernels::PrefillWalk<true> walk(w, cta);
    bool parted = false;
    for (PrefillSegment s; walk.next(s);) {
      EXPECT_FALSE(parted) << "a cluster part is the CTA's last segment";
      for (int k = s.k_begin; k < s.k_end; ++k) ++times[static_cast<std::size_t>(s.output) * w.tiles + k];
      if (s.kind == PrefillSegment::whole) continue;
      ASSERT_EQ(s.kind, PrefillSegment::cluster_part) << "cta " << cta;
      const int q = s.output - w.full_waves * w.ctas;
      ASSERT_TRUE(q >= 0 && q < w.tail_tiles);
      EXPECT_EQ(cta / c, q) << "tail tile q belongs to cluster q";
      EXPECT_EQ(s.cluster_rank, cta % c);
      EXPECT_LT(s.k_begin, s.k_end);
      parts[q][s.cluster_rank] = {s.k_begin, s.k_end};
      parted = true;
    }
  }
  for (int v : times) EXPECT_EQ(v, 1);
  for (int q = 0; q < w.tail_tiles; ++q) {
    EXPECT_EQ(parts[q][0].first, 0);
    EXPECT_EQ(parts[q][c - 1].second, w.tiles);
    for (int r = 1; r < c; ++r) EXPECT_EQ(parts[q][r].first, parts[q][r - 1].second) << "tile " << q << ", rank " << r;
    if (!costs) continue;
    const std::int32_t* row = costs->data() + kernels::output_tile(w, w.full_waves * w.ctas + q).row_block * (w.tiles + 1);
    for (int r = 0; r < c; ++r)
      EXPECT_NEAR(row[parts[q][r].second] - row[parts[q][r].first], row[w.tiles] / static_cast<double>(c),
                  kernels::kDenseStepCost)
          << "tile " << q << ", rank " << r;
  }
}

TEST(PrefillWork, ClusterSplitSharesEachTailTileInsideOneCluster) {
  // {tokens, rows, cols, N, tile, tile, SMs}, the cluster size it must take: the largest whose tail fits the grid.
  const std::pair<Case, int> cases[] = {
      {{100, 4096, 4096, 104, 128, 128, 132}, 4},   // 32 tiles: 128 CTAs of 8 steps (stream-K: 1.86 tiles' sum each)
      {{64, 2048, 4096, 64, 128, 128, 132}, 4},     // 16 tiles × 4 = 64 CTAs (8 would fit: kMaxClusterCtas)
      {{144, 4096, 4096, 72, 128, 128, 132}, 2},    // 64 tiles
      {{80, 6144, 4096, 80, 128, 128, 132}, 2},     // 48 tiles: 96 CTAs
      {{300, 4096, 4096, 80, 128, 128, 132}, 1},    // 128 tiles on 132 SMs: no cluster fits, whole tiles
      {{1024, 4096, 4096, 256, 128, 128, 132}, 1},  // 128 tiles
      {{1408, 11008, 4096, 176, 128, 128, 132}, 1}, // 8 × 86 = 688 = 5 waves of 132 + 28 tiles: whole waves first
      {{80, 11008, 4096, 64, 128, 128, 132}, 1},    // 172 = a wave + 40 tiles (clusters of 3 would fit the rest)
      {{100, 2048, 4096, 104, 128, 128, 132}, 4},   // 16 tiles at N = 104
      {{200, 2048, 4096, 248, 128, 128, 132}, 4},   // 16 tiles at N = 248
      {{200, 2048, 4096, 256, 128, 128, 132}, 4},   // 16 tiles at N = 256
      {{100, 4096, 4096, 104, 128, 64, 132}, 1},    // no cluster kernels for 128x64 tiles
      {{192, 640, 2048, 64, 128, 128, 64}, 4},      // the GPU test's shape: 15 tiles of 16 steps on 64 SMs
      {{100, 4096, 512, 104, 128, 128, 132}, 1},    // 4 steps per tile: too short to split
  };
  for (const auto& [t, cluster] : cases) {
    check_cluster_walk(t, nullptr, cluster);
    for (double share : {0.0, 0.5, 1.0}) {
      const std::vector<std::int32_t> costs = random_costs(t, share, 11);
      check_cluster_walk(t, &costs, cluster);
    }
  }
  // A row block stores its 2:4 tiles first: weighed, the first ranks take more (cheaper) steps.
  const Case t{100, 4096, 4096, 104, 128, 128, 132};
  const std::vector<std::int32_t> costs = kernels::row_step_cost_prefix(32, 32, [](std::int64_t i) { return i % 32 < 16; });
  kernels::PrefillWork w = kernels::prefill_work(t.tokens, t.n, t.rows, t.cols, t.th, t.tw, t.mp, kernels::PrefillSplit::cluster);
  kernels::weigh_stream_k_split(w, costs.data());
  EXPECT_EQ(w.share_begin[1] - w.share_begin[0], 9);   // 9 2:4 steps: 27 of the tile's 112
  EXPECT_EQ(w.share_begin[4] - w.share_begin[3], 7);   // 7 dense steps: 28
  // Priced by the model's cluster constants: a c-th of the tile's steps and the exchange.
  const kernels::PrefillWork even = kernels::prefill_work(t.tokens, t.n, t.rows, t.cols, t.th, t.tw, t.mp, kernels::PrefillSplit::cluster);
  const kernels::PrefillCostModel& m = kernels::kPrefillCostModel;
  EXPECT_DOUBLE_EQ(kernels::prefill_cost(even, t.n), kernels::prefill_step_cost(t.n) * (m.cluster_step_cost * 8 + m.cluster_exchange));
}

// The x-multicast split (PrefillSplit::multicast_2 / multicast_4): whole clusters of c CTAs, each walking whole output
// tiles in lockstep with its cluster — at every segment the same token tile on every rank, rank r on row block r of
// the same group of c — every (row block, token tile) exactly once, and whole tiles without multicast where the row
// blocks do not group by c, N does not slice into whole 8-row atoms or no kernel was built for N.
TEST(PrefillWork, MulticastClustersWalkNeighbouringRowBlocksOfOneTokenTileTogether) {
  struct MulticastCase {
    Case t;
    kernels::PrefillSplit split;
    int multicast, ctas;
  };
  using kernels::PrefillSplit;
  const MulticastCase cases[] = {
      {{2048, 11008, 4096, 256, 128, 128, 132}, PrefillSplit::multicast_2, 2, 132},  // 344 cluster tiles: 5 waves + 14
      {{2048, 4096, 4096, 256, 128, 128, 132}, PrefillSplit::multicast_4, 4, 132},   // 64 cluster tiles on 33 clusters
      {{8192, 14336, 4096, 224, 128, 128, 120}, PrefillSplit::multicast_4, 4, 120},  // several bands
      {{1031, 512, 2048, 160, 128, 128, 8}, PrefillSplit::multicast_4, 4, 8},
      {{40, 512, 2048, 128, 128, 128, 8}, PrefillSplit::multicast_4, 4, 4},          // one cluster tile
      {{301, 768, 2048, 192, 128, 128, 7}, PrefillSplit::multicast_2, 2, 6},         // 7 SMs: 3 clusters of 2
      {{2048, 640, 4096, 256, 128, 128, 132}, PrefillSplit::multicast_2, 1, 40},     // 5 row blocks: whole tiles
      {{2048, 4096, 4096, 240, 128, 128, 132}, PrefillSplit::multicast_2, 1, 132},   // no kernel at N = 240
      {{2048, 4096, 4096, 256, 128, 64, 132}, PrefillSplit::multicast_2, 1, 132},    // no kernel for 128x64 tiles
  };
  for (const MulticastCase& m : cases) {
    const Case& t = m.t;
    SCOPED_TRACE(testing::Message() << t.tokens << " tokens, " << t.rows << "x" << t.cols << ", N " << t.n << ", " << t.mp
                                    << " SMs, clusters of " << m.multicast);
    const kernels::PrefillWork w = kernels::prefill_work(t.tokens, t.n, t.rows, t.cols, t.th, t.tw, t.mp, m.split);
    ASSERT_EQ(w.multicast, m.multicast);
    ASSERT_EQ(w.ctas, m.ctas);
    if (w.multicast == 1) continue;
    EXPECT_FALSE(w.split_tail);
    const int c = w.multicast, clusters = w.ctas / c;
    ASSERT_EQ(w.ctas % c, 0);
    EXPECT_EQ(w.full_waves * clusters + w.tail_tiles, w.token_tiles * w.row_blocks / c);
    std::vector<int> seen(static_cast<std::size_t>(w.row_blocks) * w.token_tiles, 0);
    for (int g = 0; g < clusters; ++g) {
      std::vector<std::vector<kernels::OutputTile>> by_rank(static_cast<std::size_t>(c));
      for (int r = 0; r < c; ++r) {
        kernels::PrefillWalk walk(w, g * c + r);
        PrefillSegment s;
        while (walk.next(s)) {
          EXPECT_EQ(s.kind, PrefillSegment::whole);
          EXPECT_EQ(s.k_begin, 0);
          EXPECT_EQ(s.k_end, w.tiles);
          const kernels::OutputTile o = kernels::output_tile(w, s.output);
          ASSERT_TRUE(o.row_block >= 0 && o.row_block < w.row_blocks && o.token_tile >= 0 && o.token_tile < w.token_tiles);
          ++seen[static_cast<std::size_t>(o.row_block) * w.token_tiles + o.token_tile];
          by_rank[r].push_back(o);
        }
      }
      for (int r = 1; r < c; ++r) {
        ASSERT_EQ(by_rank[r].size(), by_rank[0].size()) << "cluster " << g << ": every rank walks as many tiles";
        for (std::size_t i = 0; i < by_rank[0].size(); ++i) {
          EXPECT_EQ(by_rank[r][i].token_tile, by_rank[0][i].token_tile) << "cluster " << g << ", tile " << i;
          EXPECT_EQ(by_rank[r][i].row_block, by_rank[0][i].row_block + r) << "cluster " << g << ", tile " << i;
        }
      }
      for (const kernels::OutputTile& o : by_rank[0]) EXPECT_EQ(o.row_block % c, 0);
    }
    EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), static_cast<std::ptrdiff_t>(seen.size()));
  }
}

// The x-multicast split's last wave by stream-K over the clusters (PrefillSplit::multicast_2_stream_k /
// multicast_4_stream_k): every (output tile, K step) exactly once; the ranks of a cluster walk the same K steps of the
// same token tile, rank r on row block r of the cluster tile (lockstep on the shared x panels); each CTA contributes at
// most once, with its first stream-K piece, into a slot of its own; a finisher waits for exactly the slots of its
// tile's contributors — the same rank of earlier clusters (dispatched first: no cycle) —; the clusters' shares are
// even in steps.
TEST(PrefillWork, MulticastStreamKSplitsTheLastWaveByWholeClusters) {
  using kernels::PrefillSplit;
  const std::pair<Case, PrefillSplit> cases[] = {
      {{2048, 11008, 4096, 256, 128, 128, 132}, PrefillSplit::multicast_2_stream_k},  // 5 waves + 14 of 66 clusters
      {{1024, 22016, 4096, 256, 128, 128, 132}, PrefillSplit::multicast_2_stream_k},  // 5 waves + 14
      {{2048, 4096, 4096, 256, 128, 128, 132}, PrefillSplit::multicast_2_stream_k},   // 1 wave + 62
      {{2048, 4096, 4096, 256, 128, 128, 132}, PrefillSplit::multicast_4_stream_k},   // 1 wave + 31 of 33
      {{1031, 512, 2048, 256, 128, 128, 64}, PrefillSplit::multicast_2_stream_k},     // 10 cluster tiles on 32 clusters
      {{1031, 512, 2048, 160, 128, 128, 8}, PrefillSplit::multicast_4_stream_k},      // 7 on 2: 3 waves + 1
      {{301, 768, 2048, 192, 128, 128, 8}, PrefillSplit::multicast_2_stream_k},       // 6 on 4 clusters: 1 wave + 2
      {{40 * 256, 256, 256, 256, 128, 128, 66}, PrefillSplit::multicast_2_stream_k},  // 2 steps a tile: fewer shares
  };
  for (const auto& [t, split] : cases) {
    SCOPED_TRACE(testing::Message() << t.tokens << " tokens, " << t.rows << "x" << t.cols << ", N " << t.n << ", " << t.mp
                                    << " SMs, " << kernels::prefill_split_name(split));
    const kernels::PrefillWork w = kernels::prefill_work(t.tokens, t.n, t.rows, t.cols, t.th, t.tw, t.mp, split);
    ASSERT_GT(w.multicast, 1);
    ASSERT_TRUE(w.split_tail);
    EXPECT_EQ(kernels::split_as_run(w), split);
    const int c = w.multicast, clusters = w.ctas / c, shares = kernels::stream_shares(w);
    ASSERT_EQ(w.ctas % c, 0);
    ASSERT_LE(w.ctas, t.mp);
    ASSERT_EQ(w.stream_ctas, shares * c);
    ASSERT_LE(shares, clusters);
    EXPECT_EQ(w.full_waves * clusters + w.tail_tiles, w.token_tiles * w.row_blocks / c);
    const int outputs = w.token_tiles * w.row_blocks;
    std::vector<int> times(static_cast<std::size_t>(outputs) * w.tiles, 0), finishers(outputs, 0);
    std::vector<std::set<int>> contributors(outputs), awaited(outputs);
    std::set<int> slots;
    std::vector<std::int64_t> share_steps;
    for (int g = 0; g < clusters; ++g) {
      std::vector<std::vector<PrefillSegment>> by_rank(static_cast<std::size_t>(c));
      for (int r = 0; r < c; ++r) {
        const int cta = g * c + r;
        kernels::PrefillWalk walk(w, cta);
        const int own = walk.exchange_slot();
        PrefillSegment s;
        int segments = 0;
        std::int64_t streamed = 0;
        while (walk.next(s)) {
          ASSERT_LT(s.output, outputs);
          ASSERT_LT(s.k_begin, s.k_end);
          const kernels::OutputTile o = kernels::output_tile(w, s.output);
          for (int k = s.k_begin; k < s.k_end; ++k)
            ++times[(static_cast<std::size_t>(o.row_block) * w.token_tiles + o.token_tile) * w.tiles + k];
          if (segments >= w.full_waves) streamed += s.k_end - s.k_begin;
          if (s.kind == PrefillSegment::contribute) {
            EXPECT_EQ(segments, w.full_waves) << "a contribution is the CTA's first stream-K piece";
            EXPECT_TRUE(own >= 0 && own < w.stream_ctas && slots.insert(own).second) << "a slot of its own: " << own;
            contributors[s.output].insert(own);
          }
          if (s.kind == PrefillSegment::finish) {
            EXPECT_EQ(s.end_contributor, own);
            for (int slot = s.first_contributor; slot < s.end_contributor; ++slot) {
              awaited[s.output].insert(slot);
              EXPECT_EQ(slot / shares, r) << "the same rank's slots";
              EXPECT_LT(slot % shares, g) << "an earlier cluster's";
            }
            ++finishers[s.output];
          }
          by_rank[r].push_back(s);
          ++segments;
        }
        if (cta < w.stream_ctas) share_steps.push_back(streamed);
      }
      for (int r = 1; r < c; ++r) {
        ASSERT_EQ(by_rank[r].size(), by_rank[0].size()) << "cluster " << g;
        for (std::size_t i = 0; i < by_rank[0].size(); ++i) {
          const PrefillSegment &a = by_rank[0][i], &b = by_rank[r][i];
          const kernels::OutputTile oa = kernels::output_tile(w, a.output), ob = kernels::output_tile(w, b.output);
          EXPECT_TRUE(a.kind == b.kind && a.k_begin == b.k_begin && a.k_end == b.k_end) << "cluster " << g << ", segment " << i;
          EXPECT_EQ(ob.token_tile, oa.token_tile) << "cluster " << g << ", segment " << i;
          EXPECT_EQ(ob.row_block, oa.row_block + r) << "cluster " << g << ", segment " << i;
          EXPECT_EQ(oa.row_block % c, 0);
        }
      }
    }
    for (int v : times) EXPECT_EQ(v, 1);
    for (int o = 0; o < outputs; ++o) {
      EXPECT_EQ(awaited[o], contributors[o]) << "output tile " << o;
      EXPECT_EQ(finishers[o], contributors[o].empty() ? 0 : 1) << "output tile " << o;
    }
    ASSERT_EQ(static_cast<int>(share_steps.size()), w.stream_ctas);
    const auto [lo, hi] = std::minmax_element(share_steps.begin(), share_steps.end());
    EXPECT_LE(*hi - *lo, 1);
    EXPECT_GE(*lo, std::min<std::int64_t>(kernels::kMinStreamSteps, static_cast<std::int64_t>(w.tail_tiles) * w.tiles));
    // Weighing leaves these shares in even steps (the ranks walk in column order, in lockstep).
    kernels::PrefillWork weighed = w;
    const std::vector<std::int32_t> costs = random_costs(t, 0.5, 3);
    kernels::weigh_stream_k_split(weighed, costs.data());
    for (int p = 0; p <= shares; ++p) EXPECT_EQ(weighed.share_begin[p], w.share_begin[p]);
  }
  // Where the cluster tiles fill whole waves there is nothing to split: whole waves, as multicast_2.
  const kernels::PrefillWork full = kernels::prefill_work(2048, 256, 16896, 4096, 128, 128, 132, PrefillSplit::multicast_2_stream_k);
  EXPECT_EQ(full.multicast, 2);  // 132 row blocks × 8 token tiles = 528 cluster tiles = 8 waves of 66
  EXPECT_FALSE(full.split_tail);
  EXPECT_EQ(full.tail_tiles, 0);
}

TEST(PrefillWork, OutputTilesGoInBandsOfTokenTiles) {
  // Every (row block, token tile) exactly once, whatever the counts (a last band narrower than the others included);
  // a wave's C CTAs hold consecutive output tiles: at most one band's token tiles of a few row blocks (weights read
  // from DRAM once per wave, the band's x kept in L2 while the row blocks pass over it).
  for (const auto& [tokens, n, rows] : {std::tuple{8192, 256, 4096}, std::tuple{8192, 256, 11008}, std::tuple{4096, 256, 4096},
                                        std::tuple{2600, 256, 640}, std::tuple{1031, 128, 384}, std::tuple{300, 64, 128}}) {
    const kernels::PrefillWork w = kernels::prefill_work(tokens, n, rows, 4096, 128, 128, 132, kernels::PrefillSplit::rule,
                                                         without_multicast());
    std::vector<int> seen(static_cast<std::size_t>(w.row_blocks) * w.token_tiles, 0);
    for (int o = 0; o < w.row_blocks * w.token_tiles; ++o) {
      const kernels::OutputTile t = kernels::output_tile(w, o);
      ASSERT_TRUE(t.row_block >= 0 && t.row_block < w.row_blocks && t.token_tile >= 0 && t.token_tile < w.token_tiles)
          << tokens << " tokens, output " << o;
      ++seen[static_cast<std::size_t>(t.row_block) * w.token_tiles + t.token_tile];
    }
    EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), static_cast<std::ptrdiff_t>(seen.size())) << tokens << " tokens";
    if (w.full_waves == 0 || w.ctas > kernels::kTokenTilesPerBand * w.row_blocks) continue;  // no wave / a wave > a band
    int lo_tt = w.token_tiles, hi_tt = -1, lo_rb = w.row_blocks, hi_rb = -1;
    for (int cta = 0; cta < w.ctas; ++cta) {
      PrefillSegment first;
      ASSERT_TRUE(kernels::PrefillWalk(w, cta).next(first));
      const kernels::OutputTile t = kernels::output_tile(w, first.output);
      lo_tt = std::min(lo_tt, t.token_tile), hi_tt = std::max(hi_tt, t.token_tile);
      lo_rb = std::min(lo_rb, t.row_block), hi_rb = std::max(hi_rb, t.row_block);
    }
    const int width = std::min(kernels::kTokenTilesPerBand, w.token_tiles);
    EXPECT_LE(hi_tt - lo_tt + 1, width) << tokens << " tokens";
    EXPECT_LE(hi_rb - lo_rb + 1, (w.ctas + width - 1) / width) << tokens << " tokens";
  }
}

}  // namespace
}  // namespace patchlm
