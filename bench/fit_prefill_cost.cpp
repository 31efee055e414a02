// The prefill kernel's cost model (kernels/prefill_cost.h) against timed sweeps: how far the landed model's picks
// are from the fastest variant timed, and which constants of a grid would pick best.
//   bench_fit_prefill_cost [--multiprocessors 132] [--sparsity 25,50] [--top 10] [--leave-one-shape-out] SWEEP.json...
// A sweep is a `patchlm bench gemm --prefill-only --prefill-tile-tokens … [--prefill-split whole,stream-k,cluster,multicast-2,multicast-2-stream-k] --json`
// file (or one under docs/perf/ made from one); every call of every file is one case. Prints regrets (the picked
// variant's time ÷ the fastest's), never timings of its own.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "kernels/prefill_cost_fit.h"
#include "util/error.h"

namespace {

using namespace patchlm::kernels;

// The cluster split's and the x-multicast split's constants only where the sweeps timed them (else they price nothing).
bool with_cluster = false, with_multicast = false;

std::string model_text(const PrefillCostModel& m) {
  char text[200];
  int n = std::snprintf(text, sizeof text, "slope 1/%-5.1f stream-K x%.2f exchange %4.1f", 1.0 / m.step_cost_per_token,
                        m.stream_k_step_cost, m.stream_k_exchange);
  if (with_cluster)
    n += std::snprintf(text + n, sizeof text - n, " cluster x%.2f exchange %4.1f", m.cluster_step_cost, m.cluster_exchange);
  if (with_multicast)
    std::snprintf(text + n, sizeof text - n, " multicast-2 x%.2f (2:4 x%.2f) + %4.1f at N %s from %lld", m.multicast_step_cost,
                  m.multicast_two_four_step_cost, m.multicast_prologue,
                  m.multicast_tokens_per_tile == 0 ? "any" : std::to_string(m.multicast_tokens_per_tile).c_str(),
                  static_cast<long long>(m.multicast_min_tokens));
  return text;
}

void print_regret(const char* label, const std::vector<PrefillTimedCall>& calls, const PrefillCostModel& model) {
  const PrefillRegret r = prefill_regret(calls, model);
  std::printf("  %-58s %4d cases  regret: mean %.4f  worst %.3f", label, r.calls, r.geometric_mean, r.worst);
  if (r.worst_call >= 0 && r.worst > 1) {
    const PrefillTimedCall& c = calls[r.worst_call];
    const PrefillPick p = pick_by_cost_model(c, model);
    std::printf("  (%s @%lld, sigma %g: %s %.1f us, fastest %s %.1f us)", prefill_shape_text(c).c_str(),
                static_cast<long long>(c.tokens), c.sparsity, prefill_variant_text(p.picked).c_str(), p.picked.us,
                prefill_variant_text(p.fastest).c_str(), p.fastest.us);
  }
  std::printf("\n");
}

// Where the cluster split was timed: per call, the fastest variant of each split, and the cluster split's gain over the
// faster of the other two — what the rule could gain from it before any model prices it.
void compare_cluster_split(const std::vector<PrefillTimedCall>& calls) {
  std::printf("\nthe cluster split against the best of whole and stream-K (fastest N of each):\n");
  double log_sum = 0;
  int compared = 0, wins = 0;
  for (const PrefillTimedCall& c : calls) {
    const PrefillSplitBests b = best_by_split(c);
    if (b.cluster.tokens_per_tile == 0) continue;
    const PrefillVariant& other = b.stream_k.tokens_per_tile != 0 && (b.whole.tokens_per_tile == 0 || b.stream_k.us < b.whole.us)
                                      ? b.stream_k
                                      : b.whole;
    const double gain = other.us / b.cluster.us;
    std::printf("  %-10s @%-5lld sigma %-4g whole %6.1f us (%3d)  stream-K %6.1f us (%3d)  cluster %6.1f us (%3d)  gain %.3f\n",
                prefill_shape_text(c).c_str(), static_cast<long long>(c.tokens), c.sparsity, b.whole.us,
                b.whole.tokens_per_tile, b.stream_k.us, b.stream_k.tokens_per_tile, b.cluster.us, b.cluster.tokens_per_tile, gain);
    log_sum += std::log(gain), ++compared, wins += gain > 1;
  }
  if (compared > 0)
    std::printf("  %d calls: geometric mean gain %.4f, the cluster split fastest in %d\n", compared, std::exp(log_sum / compared), wins);
}

// Per call, what the landed model picks, the fastest variant timed, and the pick's regret.
void print_picks(const std::vector<PrefillTimedCall>& calls) {
  std::printf("\nthe landed model's pick per call:\n");
  for (const PrefillTimedCall& c : calls) {
    const PrefillPick pick = pick_by_cost_model(c, kPrefillCostModel);
    std::printf("  %-10s @%-5lld sigma %-4g picks %-13s %7.1f us  fastest %-13s %7.1f us  regret %.3f\n",
                prefill_shape_text(c).c_str(), static_cast<long long>(c.tokens), c.sparsity,
                prefill_variant_text(pick.picked).c_str(), pick.picked.us, prefill_variant_text(pick.fastest).c_str(),
                pick.fastest.us, pick.regret);
  }
}

// Each shape's calls picked by the grid's best model for the other shapes' calls.
void leave_one_shape_out(const std::vector<PrefillTimedCall>& calls, const PrefillCostGrid& grid) {
  std::map<std::string, std::vector<PrefillTimedCall>> by_shape;
  for (const PrefillTimedCall& c : calls) by_shape[prefill_shape_text(c)].push_back(c);
  std::printf("\nleave one shape out (fit on the other shapes, regret on this one):\n");
  for (const auto& [shape, held] : by_shape) {
    std::vector<PrefillTimedCall> rest;
    for (const PrefillTimedCall& c : calls)
      if (prefill_shape_text(c) != shape) rest.push_back(c);
    if (rest.empty()) continue;
    const PrefillCostModel fitted = fit_prefill_cost_model(rest, grid).front().model;
    print_regret((shape + ": " + model_text(fitted)).c_str(), held, fitted);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"The prefill cost model's picks against timed sweeps, and a grid fit of its constants"};
  std::vector<std::string> files;
  int sms = 132, top = 10;
  std::vector<double> sparsities;
  bool cross_validate = false, picks = false, only_multicast = false;
  app.add_option("sweeps", files, "bench gemm --json files with several tokens-per-tile / split variants per call")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--multiprocessors", sms, "SMs of the GPU, for rows that do not say (bench gemm rows before 2026-12-04 stop 45; H200, H100 SXM: 132)")
      ->check(CLI::Range(1, 1024));
  app.add_option("--sparsity", sparsities, "Only the calls at these sigma (percent)")->delimiter(',');
  app.add_option("--top", top, "How many of the grid's best models to print")->check(CLI::Range(1, 1000));
  app.add_flag("--leave-one-shape-out", cross_validate, "Also fit without each shape and price that shape's calls");
  app.add_flag("--picks", picks, "Also print the landed model's pick, the fastest variant and the regret of every call");
  app.add_flag("--only-multicast", only_multicast,
               "Fit the x-multicast split's constants only, the others held at the landed model's (for sweeps of one N)");
  bool widen = false;
  app.add_flag("--widen-multicast", widen,
               "Also let the rule weigh x multicast at every N with a multicast kernel and from 256 tokens "
               "(for sweeps that timed it there)");
  CLI11_PARSE(app, argc, argv);
  try {
    // Each file once; which splits any of them timed decides what the model text shows.
    std::vector<std::vector<PrefillTimedCall>> loaded;
    for (const std::string& file : files) {
      loaded.push_back(load_prefill_timings(file, sms));
      with_cluster = with_cluster || has_cluster_variants(loaded.back());
      with_multicast = with_multicast || has_multicast_variants(loaded.back());
    }
    std::printf("the landed model (%s):\n", model_text(kPrefillCostModel).c_str());
    std::vector<PrefillTimedCall> all;
    for (std::size_t f = 0; f < files.size(); ++f) {
      const std::string& file = files[f];
      std::vector<PrefillTimedCall>& calls = loaded[f];
      if (calls.empty()) throw patchlm::Error(file + ": no call with two or more prefill variants timed");
      if (!sparsities.empty())
        std::erase_if(calls, [&](const PrefillTimedCall& c) {
          return std::find(sparsities.begin(), sparsities.end(), c.sparsity) == sparsities.end();
        });
      if (calls.empty()) continue;
      print_regret(file.c_str(), calls, kPrefillCostModel);
      all.insert(all.end(), calls.begin(), calls.end());
    }
    if (all.empty()) throw patchlm::Error("no call at the sparsities asked for");
    if (files.size() > 1) print_regret("all", all, kPrefillCostModel);
    PrefillCostGrid grid =
        only_multicast ? multicast_only_prefill_cost_grid() : default_prefill_cost_grid(with_cluster, with_multicast);
    if (widen) widen_multicast_grid(grid);
    const std::vector<PrefillFit> fits = fit_prefill_cost_model(all, grid);
    std::printf("\nthe grid's best of %zu models on all %zu cases:\n", fits.size(), all.size());
    for (std::size_t i = 0; i < fits.size() && i < static_cast<std::size_t>(top); ++i)
      std::printf("  %3zu. %s  regret: mean %.4f  worst %.3f\n", i + 1, model_text(fits[i].model).c_str(),
                  fits[i].regret.geometric_mean, fits[i].regret.worst);
    const auto landed = std::find_if(fits.begin(), fits.end(), [](const PrefillFit& f) {
      return same_prefill_cost_model(f.model, kPrefillCostModel);
    });
    if (landed != fits.end()) std::printf("  the landed model is %td. of %zu\n", landed - fits.begin() + 1, fits.size());
    if (with_cluster) compare_cluster_split(all);
    if (picks) print_picks(all);
    if (cross_validate) leave_one_shape_out(all, grid);
  } catch (const patchlm::Error& e) {
    std::fprintf(stderr, "bench_fit_prefill_cost: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
