#pragma once
// The prefill cost model (prefill_cost.h) against measured timings: which variant — tokens per tile N and the last
// wave's split — a model picks for each timed call, how much slower that is than the fastest variant timed (its
// regret), and a grid search for the model constants with the least regret. The timings are `patchlm bench gemm
// --prefill-only --prefill-tile-tokens … [--prefill-split whole,stream-k,cluster,multicast-2,…] --json` rows, or the sweeps under docs/perf/
// made from them. bench/fit_prefill_cost prints all of it; tests/kernels/test_prefill_cost_fit.cpp holds the landed
// model to the figures prefill_cost.h states.
//
// A model may only pick among the variants that were timed: for each it prices the work split that variant ran
// (prefill_work with that N and split) and takes the cheapest — of the x-multicast splits only those its rule weighs
// (prefill_rule_weighs_multicast: N, token count, the stream-K tail's guard); the others count only as the fastest.
// A forced stream-K split that comes out as whole waves (the output tiles fill every wave), or a forced cluster split
// for which no cluster fits, ran as whole tiles and is priced so. A variant timed at the rule's split (an "N" key, no
// "/split") ran the split the landed constants pick, with the cluster split among the candidates where the
// row's prefill_rule_has_cluster_split says so (bench gemm writes it from --cluster-split and --eager) — true of sweeps
// made by a binary with the landed constants.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "kernels/prefill_cost.h"

namespace patchlm::kernels {

struct PrefillVariant {
  int tokens_per_tile = 0;                   // N
  PrefillSplit split = PrefillSplit::whole;  // the last wave's split as it ran: whole, stream_k or cluster
  double us = 0;                             // measured time of one call
};

// One timed call: a weight shape, a token count and every variant timed for it (from one row of one file).
struct PrefillTimedCall {
  std::int64_t rows = 0, cols = 0, tokens = 0;
  double sparsity = 0;  // σ in percent
  int multiprocessors = 0;  // of the GPU it was timed on
  std::vector<PrefillVariant> variants;
  std::string source;   // "<file>: row <i>", for messages
  double two_four_share = 0;  // of the weight's tiles (the row's two_four_tile_share, else σ / 50 %)
};

// The calls of a `bench gemm --json` file or a docs/perf sweep (a JSON array of rows). A row's weight is `rows` and
// `cols` or `shape` ("4096x11008"); its variants are the keys of prefill_kernel_us_by_variant or
// wgmma_us_by_tokens_per_tile_and_split ("N/whole", "N/stream-k", "N/cluster"; "rule/…" skipped), prefill_kernel_us_by_tile_tokens
// or us_by_tokens_per_tile ("N", at the rule's split — with the cluster split only where the row's
// prefill_rule_has_cluster_split says so, x multicast where prefill_rule_has_multicast does, its stream-K tail where
// prefill_rule_has_multicast_stream_k does). "N/multicast-4" and "N/multicast-4-stream-k" are left out: the rule never
// weighs clusters of 4 (prefill_cost.h). A variant timed more than once in a row takes the mean. Rows
// with fewer than two variants are left out (nothing to pick among). The GPU's SM count is the row's
// `multiprocessors` (bench gemm writes it), else `multiprocessors`. Throws Error naming the file, row and field on
// anything else malformed.
std::vector<PrefillTimedCall> load_prefill_timings(const std::filesystem::path& file, int multiprocessors);

struct PrefillPick {
  PrefillVariant picked, fastest;
  double regret = 1;  // picked.us / fastest.us
};

// The variant `model` prices lowest among those timed (the smaller N, then whole, stream-K, cluster, on a tie), and the
// fastest timed.
PrefillPick pick_by_cost_model(const PrefillTimedCall& call, const PrefillCostModel& model);

struct PrefillRegret {
  int calls = 0;
  double geometric_mean = 1, worst = 1;
  int worst_call = -1;  // index into the calls, -1 when there are none
};
PrefillRegret prefill_regret(const std::vector<PrefillTimedCall>& calls, const PrefillCostModel& model);

// The values each constant of the model takes in a grid search.
struct PrefillCostGrid {
  std::vector<double> tokens_per_slope_step;  // 1 / step_cost_per_token
  std::vector<double> stream_k_step_cost;
  std::vector<double> stream_k_exchange;
  std::vector<double> cluster_step_cost = {kPrefillCostModel.cluster_step_cost};
  std::vector<double> cluster_exchange = {kPrefillCostModel.cluster_exchange};
  std::vector<double> multicast_step_cost = {kPrefillCostModel.multicast_step_cost};  // clusters of 2
  std::vector<double> multicast_two_four_step_cost = {kPrefillCostModel.multicast_two_four_step_cost};
  std::vector<double> multicast_prologue = {kPrefillCostModel.multicast_prologue};
  // Where the rule weighs x multicast: its N (0: every N with a multicast kernel) and fewest tokens.
  std::vector<double> multicast_tokens_per_tile = {static_cast<double>(kPrefillCostModel.multicast_tokens_per_tile)};
  std::vector<double> multicast_min_tokens = {static_cast<double>(kPrefillCostModel.multicast_min_tokens)};
};
// Around the landed model, wide enough to leave it; with_cluster: the cluster split's constants too (for sweeps with
// "N/cluster" variants — else they price nothing and stay the landed ones); with_multicast: likewise the x-multicast
// split's in clusters of 2 ("N/multicast-2", "N/multicast-2-stream-k").
PrefillCostGrid default_prefill_cost_grid(bool with_cluster = false, bool with_multicast = false);
// The x-multicast split's constants alone, every other one held at the landed model's (for sweeps of one N:
// `bench/fit_prefill_cost --only-multicast`).
PrefillCostGrid multicast_only_prefill_cost_grid();
// A grid that also lets the rule weigh x multicast at every N with a multicast kernel and from fewer tokens (for sweeps
// that timed it there: `bench/fit_prefill_cost --widen-multicast`).
void widen_multicast_grid(PrefillCostGrid& grid);
// Whether two models have the same constants and rule settings (the two_four_share they were last asked at aside).
bool same_prefill_cost_model(const PrefillCostModel& a, const PrefillCostModel& b);
// Whether any call has a cluster-split variant; an x-multicast one.
bool has_cluster_variants(const std::vector<PrefillTimedCall>& calls);
bool has_multicast_variants(const std::vector<PrefillTimedCall>& calls);

struct PrefillFit {
  PrefillCostModel model;
  PrefillRegret regret;
};
// Every model of the grid, least geometric-mean regret first (then least worst regret).
std::vector<PrefillFit> fit_prefill_cost_model(const std::vector<PrefillTimedCall>& calls, const PrefillCostGrid& grid);

// The fastest timed variant of each split as it ran (tokens_per_tile 0 where the call has none of that split): what
// the cluster split gains over the best of the others, before any model prices it.
struct PrefillSplitBests {
  PrefillVariant whole, stream_k, cluster;
};
PrefillSplitBests best_by_split(const PrefillTimedCall& call);

// "4096x11008"
std::string prefill_shape_text(const PrefillTimedCall& call);
// "64/stream-k"; "64/whole", "64/cluster"
std::string prefill_variant_text(const PrefillVariant& variant);

}  // namespace patchlm::kernels
