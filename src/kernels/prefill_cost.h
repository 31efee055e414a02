#pragma once
// The prefill kernel's cost model and dispatch rule (hybrid_prefill.cu): the price of each work split
// (prefill_split.h) in 64-token K steps, and the rule that takes the cheapest split and tokens per output tile for
// each call — prefill_work(), prefill_tokens_per_tile(). Torch-free; fitted to timed sweeps by prefill_cost_fit.
#include <algorithm>
#include <cstdint>
#include <string>

#include "kernels/prefill_split.h"

namespace patchlm::kernels {

// The rule weighs x multicast's last wave by stream-K only behind this many whole waves of cluster tiles: there the
// tail took 0.998–1.04× the whole last wave's time wherever the model priced it lower (docs/performance.md step 28:
// 11008×4096 at 2048 tokens, 12288×4096 and 14336×4096 at 1536, 22016×4096 at 1024–2048, 28672×4096 at 1536–8192; H100
// and H200), while behind one wave it lost what the model priced as a gain (4096×14336 at 1536 tokens: 1.06–1.09× the
// rule without it).
constexpr int kMulticastStreamKMinWaves = 4;

// The cost model (docs/performance.md, issue 21 steps 15 and 17), fitted to every N × split timed on an H200 (13
// LLaMA-2-7B / 3.1-8B shapes — the engine's stacked q/k/v and gate/up among them — 64–1024 tokens, σ = 25 / 35 / 50 %):
// a call takes as long as its busiest CTA, whose K steps cost
//   prefill_step_cost(N) each — in 64-token steps, 1 + (N − 64) / 125: 1.51 at 128 tokens, 2.54 at 256; a step's x
//     panel grows with N while its weight tile stays — and a stream-K share's steps stream_k_step_cost× that (every SM
//     streams at once, where a short last wave of whole tiles leaves some idle) plus stream_k_exchange steps for the
//     partial sums.
// Picking by it is within 1 % of the fastest variant on average over the 266 cases timed (≤ 3 % with a shape left out
// of the fit); from 2048 tokens it keeps 256-token tiles on the LLaMA-2-7B shapes, as measured best there (step 11).
// Fitted with N in steps of 32; over every multiple of 8 (step 20: 6 shapes × 7 counts, σ = 25 %, each N timed) its
// pick is within 0.5 % of the fastest N on average, 9.8 % at worst (4096×4096 at 144–200 tokens: 64 where 72 is best).
// No σ term: fitted to the σ = 25, 35 and 50 % cases apart, the best slope is 1/120–1/125 at each. Those timings are
// docs/perf/gemm_prefill_{split,tile_tokens,tokens_per_tile_steps_of_8}_sweep_h200.json; kernels/prefill_cost_fit.h
// measures a model's picks against such sweeps and refits it (bench/fit_prefill_cost), and
// tests/kernels/test_prefill_cost_fit.cpp holds the landed model to the figures above.
// The cluster split (PrefillSplit::cluster) is priced the same way — its shares' steps cluster_step_cost× a whole
// tile's, plus cluster_exchange steps for the sums' exchange through distributed shared memory — fitted with the
// stream-K and N constants held (step 23: every N × whole / stream-K / cluster timed on 5 shapes at 64–200 tokens and
// 2 large ones' tails, docs/perf/gemm_prefill_cluster4_sweep_h200.json; over it and the three sweeps above, 347 calls,
// mean regret 1.0082, the grid's best 1.0081). The rule weighs it against whole tiles and stream-K only where
// cluster_in_rule, which is off in the landed model — prefill_rule_model says where the rule takes it.
// The x-multicast split (clusters of 2; weighed at N = 256 from 1024 tokens — multicast_tokens_per_tile,
// multicast_min_tokens — where it was timed; step 30 timed every N down to 192 tokens and no wider scope fitted) is
// priced as whole waves of cluster tiles, each step multicast_step_factor× a whole tile's — 0.95 for a dense weight,
// 0.85 for an all-2:4 one, in proportion to the weight's 2:4 tile share in between (a 2:4 step halves the MMA and the
// weight's bytes, not x's, which the pair shares) — plus multicast_prologue steps once; fitted with the other
// constants held (step 27: `bench/fit_prefill_cost --only-multicast` over
// docs/perf/gemm_prefill_multicast_{unfenced,rule_ab}_h100.json, 129 H100 cases, mean regret 1.0043 — the grid's best,
// tied with 0.90 / 0.70 / 12 and 0.95 / 0.75 / 8). Its last wave may go by stream-K over
// the clusters instead, priced as the plain stream-K tail (stream_k_step_cost, stream_k_exchange) of multicast steps
// (step 28: with docs/perf/gemm_prefill_multicast_stream_k_sweep_h100.json, 201 H100 cases, mean regret 1.0060, still
// the grid's best; on an H200, gemm_prefill_multicast_stream_k_sweep_h200.json, 1.0050). It gains little — up to
// 3–4 % where the calls are 4–10 waves of cluster tiles deep and their last wave a fifth to a half full, 1.025× where
// the guarded rule's picks differ (docs/perf/gemm_prefill_multicast_stream_k_ab_h100.json) — since whole tiles in a short
// last wave ran faster than the model's full wave there; a term for that did not fit the sweeps (step 28).
struct PrefillCostModel {
  double step_cost_per_token = 1.0 / 125;  // a K step's cost grows by this per token of N past 64
  double stream_k_step_cost = 1.30;        // a stream-K share's step, relative to a whole tile's
  double stream_k_exchange = 10;           // the partial sums' exchange, in 64-token steps
  double cluster_step_cost = 1.00;         // a cluster share's step, relative to a whole tile's
  double cluster_exchange = 6;             // the sums' exchange in a cluster, in 64-token steps
  bool cluster_in_rule = false;            // whether the rule may pick the cluster split
  // A step of the x-multicast split, relative to a whole tile's: for a weight of dense tiles only, and of 2:4 tiles
  // only; between them in proportion to the weight's 2:4 tile share (two_four_share). Fitted in clusters of 2; clusters
  // of 4 (forced only: the rule never weighs them) are priced alike.
  double multicast_step_cost = 0.95;
  double multicast_two_four_step_cost = 0.85;
  double multicast_prologue = 6;  // in 64-token steps, once per call: the cluster's set-up before its first x panel
  bool multicast_in_rule = true;  // whether the rule may pick the x-multicast split (clusters of 2)
  // …at this N only (0: at every N with a multicast kernel) and from this many tokens: where it was timed.
  int multicast_tokens_per_tile = 256;
  std::int64_t multicast_min_tokens = 1024;
  // whether it may also split that split's last wave by stream-K (PrefillSplit::multicast_2_stream_k), priced as a
  // stream-K tail (stream_k_step_cost, stream_k_exchange) of multicast steps — a constant of its own for that tail's
  // step was not determined by the timings (step 28: 1.0–1.45 all within 0.05 % of mean regret over 255 cases)
  bool multicast_stream_k_in_rule = true;
  // Not a constant of the model: the 2:4 share of the weight tiles being priced (prefill_rule_model sets it).
  double two_four_share = 0;
};
inline constexpr PrefillCostModel kPrefillCostModel{};

// Where the rule may take the cluster split: never, in launches captured into a CUDA graph, or in every launch. In
// graphs only (kClusterSplitUse): on an H200 (docs/performance.md steps 23–24), with the cluster split in the rule step
// 20's 152 GEMM calls — timed in graphs — ran 1.028× faster (geometric mean; 1.05–1.11× at 64–144 tokens, no σ = 50 %
// call below cuBLAS) and decode at batch 64 in graphs 1.016×, but the engine's eager prefill of one 100-token prompt
// 0.73× (one by one at batch 64: 0.89×): ~14–40 µs more per eager cluster launch, not yet explained. The other
// settings are for A/Bs in one binary (`patchlm bench gemm|e2e --cluster-split never|graphs|always`).
enum class ClusterSplitUse { never, in_graphs, always };
inline constexpr ClusterSplitUse kClusterSplitUse = ClusterSplitUse::in_graphs;

// "never", "graphs", "always" (the command line's names); false for any other name.
inline bool cluster_split_use_named(const std::string& name, ClusterSplitUse& use) {
  if (name == "never") use = ClusterSplitUse::never;
  else if (name == "graphs") use = ClusterSplitUse::in_graphs;
  else if (name == "always") use = ClusterSplitUse::always;
  else return false;
  return true;
}
constexpr const char* cluster_split_use_name(ClusterSplitUse use) {
  return use == ClusterSplitUse::never ? "never" : use == ClusterSplitUse::in_graphs ? "graphs" : "always";
}

// What a launch's rule depends on besides the call's sizes: the launch (captured into a CUDA graph or not), the
// process's switches for A/Bs in one binary (`patchlm bench gemm|e2e --cluster-split`, `--no-x-multicast`,
// `--no-multicast-stream-k`) and the weight being priced. HybridPrefillPlan carries it; the workspace and the launch
// must ask with the same: their N and split then agree.
struct PrefillRuleInputs {
  bool graph = false;                                 // the launch is being captured into a CUDA graph
  ClusterSplitUse cluster_split = kClusterSplitUse;   // where the cluster split may be taken
  double two_four_share = 0;                          // of the weight's tiles (the multicast step cost depends on it)
  bool multicast = true;                              // the x-multicast split may be taken
  bool multicast_stream_k = true;                     // and its last wave split by stream-K
};

// The model the dispatch rule prices a launch with: `model`, and the cluster split too where the inputs allow it for
// this launch, x multicast and its stream-K tail only where they are switched on, at the weight's 2:4 tile share.
constexpr PrefillCostModel prefill_rule_model(const PrefillRuleInputs& in,
                                              const PrefillCostModel& model = kPrefillCostModel) {
  PrefillCostModel m = model;
  m.cluster_in_rule = m.cluster_in_rule || in.cluster_split == ClusterSplitUse::always ||
                      (in.graph && in.cluster_split == ClusterSplitUse::in_graphs);
  m.multicast_in_rule = m.multicast_in_rule && in.multicast;
  m.multicast_stream_k_in_rule = m.multicast_stream_k_in_rule && in.multicast_stream_k;
  m.two_four_share = in.two_four_share;
  return m;
}

// A multicast step's cost relative to a whole tile's at the model's 2:4 tile share.
constexpr double multicast_step_factor(const PrefillCostModel& model) {
  return model.multicast_step_cost + (model.multicast_two_four_step_cost - model.multicast_step_cost) * model.two_four_share;
}

constexpr double prefill_step_cost(int n, const PrefillCostModel& model = kPrefillCostModel) {
  return 1.0 + model.step_cost_per_token * (n - kSmallTokensPerTile);
}

// Whether the rule weighs x multicast at all at N = n for `tokens` tokens: where the model lets it (multicast_in_rule,
// its N and token count). Asked before any multicast split is built: the rule prices every N per call.
constexpr bool prefill_rule_multicast_scope(int n, std::int64_t tokens, const PrefillCostModel& model) {
  return model.multicast_in_rule && tokens >= model.multicast_min_tokens &&
         (model.multicast_tokens_per_tile == 0 || n == model.multicast_tokens_per_tile);
}

// Whether the rule weighs the x-multicast split `w` (PrefillWorkSizes::multicast > 1) at N = n for `tokens` tokens:
// clusters of 2 in the model's scope, the stream-K tail only where multicast_stream_k_in_rule and behind
// kMulticastStreamKMinWaves whole waves. The rule and the cost fit (prefill_cost_fit.h) ask the same.
inline bool prefill_rule_weighs_multicast(const PrefillWorkSizes& w, int n, std::int64_t tokens,
                                          const PrefillCostModel& model) {
  return w.multicast == 2 && prefill_rule_multicast_scope(n, tokens, model) &&
         (!w.split_tail || (model.multicast_stream_k_in_rule && w.full_waves >= kMulticastStreamKMinWaves));
}

// The cost of a work split with N tokens per tile, in 64-token K steps.
inline double prefill_cost(const PrefillWorkSizes& w, int n, const PrefillCostModel& model = kPrefillCostModel) {
  const std::int64_t waves = w.full_waves + (!w.split_tail && w.tail_tiles > 0 ? 1 : 0);
  // With x multicast every step, a stream-K share's too, at the multicast step's cost.
  const double step = w.multicast > 1 ? multicast_step_factor(model) : 1.0;
  double steps = static_cast<double>(waves) * w.tiles * step;
  if (w.multicast > 1) steps += model.multicast_prologue;
  if (w.split_tail && w.cluster > 1) {
    steps += model.cluster_step_cost * static_cast<double>((w.tiles + w.cluster - 1) / w.cluster) + model.cluster_exchange;
  } else if (w.split_tail) {
    const std::int64_t tail_steps = static_cast<std::int64_t>(w.tail_tiles) * w.tiles;
    const std::int64_t share_steps = (tail_steps + stream_shares(w) - 1) / stream_shares(w);
    steps += model.stream_k_step_cost * static_cast<double>(share_steps) * step + model.stream_k_exchange;
  }
  return prefill_step_cost(n, model) * steps;
}

namespace detail {
// prefill_work's split, its sizes only.
inline PrefillWorkSizes prefill_sizes(std::int64_t tokens, int n, std::int64_t rows, std::int64_t cols, int tile_height,
                                      int tile_width, int multiprocessors, PrefillSplit split, const PrefillCostModel& model) {
  if (split == PrefillSplit::cluster) return prefill_sizes_cluster(tokens, n, rows, cols, tile_height, tile_width, multiprocessors);
  if (multicast_cluster_size(split) > 0)
    return prefill_sizes_multicast(tokens, n, rows, cols, tile_height, tile_width, multiprocessors,
                                   multicast_cluster_size(split), multicast_stream_k(split));
  if (split != PrefillSplit::rule)
    return prefill_sizes_as(tokens, n, rows, cols, tile_height, tile_width, multiprocessors, split == PrefillSplit::stream_k);
  const PrefillWorkSizes whole = prefill_sizes_as(tokens, n, rows, cols, tile_height, tile_width, multiprocessors, false);
  const PrefillWorkSizes streamed = prefill_sizes_as(tokens, n, rows, cols, tile_height, tile_width, multiprocessors, true);
  // The cheapest candidate, the earlier one on a tie; the cluster and multicast candidates only where they formed.
  PrefillWorkSizes best = prefill_cost(streamed, n, model) < prefill_cost(whole, n, model) ? streamed : whole;
  const auto take_if_cheaper = [&](const PrefillWorkSizes& candidate) {
    if (prefill_cost(candidate, n, model) < prefill_cost(best, n, model)) best = candidate;
  };
  if (model.cluster_in_rule) {
    const PrefillWorkSizes clustered = prefill_sizes_cluster(tokens, n, rows, cols, tile_height, tile_width, multiprocessors);
    if (clustered.cluster > 1) take_if_cheaper(clustered);
  }
  // x multicast in clusters of 2 where the model weighs it (clusters of 4 do not all fit at once on an H100 — fewer
  // than multiprocessors / 4, so a wave the model counts as one ran as two — and lost almost everywhere).
  if (prefill_rule_multicast_scope(n, tokens, model))
    for (bool split_tail : {false, true}) {
      const PrefillWorkSizes shared =
          prefill_sizes_multicast(tokens, n, rows, cols, tile_height, tile_width, multiprocessors, 2, split_tail);
      if (prefill_rule_weighs_multicast(shared, n, tokens, model)) take_if_cheaper(shared);
    }
  return best;
}
}  // namespace detail

// The work split of `tokens` tokens at N = n: whole waves, the last one whole, stream-K or by clusters as `split` says
// (rule: the cheapest by `model` of whole and stream-K, and of the cluster split where model.cluster_in_rule), its
// shares in equal steps (weigh_stream_k_split then weighs them by cost).
inline PrefillWork prefill_work(std::int64_t tokens, int n, std::int64_t rows, std::int64_t cols, int tile_height,
                                int tile_width, int multiprocessors, PrefillSplit split = PrefillSplit::rule,
                                const PrefillCostModel& model = kPrefillCostModel) {
  return detail::with_even_shares(
      detail::prefill_sizes(tokens, n, rows, cols, tile_height, tile_width, multiprocessors, split, model));
}

// N for `tokens` tokens: by the cost model where the weight's shape is known (rows, cols > 0), the smaller N on a tie.
inline int prefill_tokens_per_tile(int tile_height, int tile_width, std::int64_t tokens, std::int64_t rows = 0,
                                   std::int64_t cols = 0, int multiprocessors = 0,
                                   const PrefillCostModel& model = kPrefillCostModel) {
  if (!prefill_has_small_and_large_tiles(tile_height, tile_width)) return kTokensPerTile;
  if (rows <= 0 || cols <= 0) {
    const std::int64_t small_tiles = (tokens + kSmallTokensPerTile - 1) / kSmallTokensPerTile;
    if (tokens >= 1024) return kLargeTokensPerTile;
    return tokens <= kSmallTokensPerTile || small_tiles % 2 == 1 ? kSmallTokensPerTile : kTokensPerTile;
  }
  int best = kSmallTokensPerTile;
  double best_cost = 0;
  for (int n : kTokensPerTileChoices) {
    const double cost = prefill_cost(
        detail::prefill_sizes(tokens, n, rows, cols, tile_height, tile_width, multiprocessors, PrefillSplit::rule, model), n,
        model);
    if (n == kSmallTokensPerTile || cost < best_cost) best = n, best_cost = cost;
  }
  return best;
}

}  // namespace patchlm::kernels
