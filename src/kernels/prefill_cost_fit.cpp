#include "kernels/prefill_cost_fit.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "util/error.h"
#include "util/integer_text.h"
#include "util/json_io.h"

namespace patchlm::kernels {
namespace {

constexpr int kTile = 128;  // the weight tiles that come with every N (prefill_has_small_and_large_tiles)

std::int64_t positive_integer(const nlohmann::json& row, const char* field, const std::string& where) {
  if (!row.contains(field)) throw Error(str_cat(where, ": no '", field, "'"));
  const nlohmann::json& v = row.at(field);
  if (!v.is_number_integer() || v.get<std::int64_t>() <= 0)
    throw Error(str_cat(where, ": '", field, "' is ", v.dump(), ", not a positive integer"));
  return v.get<std::int64_t>();
}

// The row's true / false `field`; false where it has none (rows timed before the rule had the split it names).
bool optional_flag(const nlohmann::json& row, const char* field, const std::string& where) {
  const auto it = row.find(field);
  if (it == row.end()) return false;
  if (!it->is_boolean()) throw Error(str_cat(where, ": '", field, "' is ", it->dump(), ", not true or false"));
  return it->get<bool>();
}

// rows × cols from `rows` and `cols`, or from `shape` ("4096x11008").
std::pair<std::int64_t, std::int64_t> weight_shape(const nlohmann::json& row, const std::string& where) {
  if (!row.contains("shape")) return {positive_integer(row, "rows", where), positive_integer(row, "cols", where)};
  const nlohmann::json& shape = row.at("shape");
  const std::string text = shape.is_string() ? shape.get<std::string>() : "";
  const std::size_t x = text.find('x');
  const auto rows = x == std::string::npos ? std::nullopt : parse_integer(text.substr(0, x));
  const auto cols = x == std::string::npos ? std::nullopt : parse_integer(text.substr(x + 1));
  if (!rows || !cols || *rows <= 0 || *cols <= 0)
    throw Error(str_cat(where, ": 'shape' is ", shape.dump(), ", not ROWSxCOLS"));
  return {*rows, *cols};
}

// The first of `fields` the row has (an object of variant → µs), or nullptr.
const nlohmann::json* timings_field(const nlohmann::json& row, std::initializer_list<const char*> fields,
                                    const std::string& where, std::string& name) {
  for (const char* field : fields) {
    if (!row.contains(field)) continue;
    if (!row.at(field).is_object()) throw Error(str_cat(where, ": '", field, "' is not an object"));
    name = field;
    return &row.at(field);
  }
  return nullptr;
}

struct TimedCallBuilder {
  PrefillTimedCall call;
  std::map<std::pair<int, PrefillSplit>, std::pair<double, int>> sums;  // (N, split as run) → (sum of µs, count)
  // The rule the row's "N" keys ran: the landed model's, with the cluster split only where the row says so (bench gemm
  // writes prefill_rule_has_cluster_split; rows timed before the rule had it do not).
  PrefillCostModel rule_model = kPrefillCostModel;

  // key: "N" (the rule's split) or "N/<split>" (forced_prefill_split's names); "rule/…" is skipped.
  void add(const std::string& key, const nlohmann::json& value, const std::string& where) {
    const std::size_t slash = key.find('/');
    const std::string n_text = key.substr(0, slash);
    if (n_text == "rule") return;
    const auto n = parse_integer(n_text);
    if (!n || !prefill_tokens_per_tile_built(kTile, kTile, static_cast<int>(*n)))
      throw Error(str_cat(where, ": '", key, "': tokens per tile must be one of ", prefill_tokens_per_tile_choices_text()));
    PrefillSplit split = PrefillSplit::rule;
    if (slash != std::string::npos) {
      const std::string s = key.substr(slash + 1);
      if (!forced_prefill_split(s, split))
        throw Error(str_cat(where, ": '", key, "': the split must be ", forced_prefill_split_names()));
      if (multicast_cluster_size(split) == 4) return;  // not a candidate of the rule
    }
    if (!value.is_number() || !(value.get<double>() > 0) || !std::isfinite(value.get<double>()))
      throw Error(str_cat(where, ": '", key, "' is ", value.dump(), ", not a positive time in µs"));
    // The split the call ran: a forced stream-K whose tiles fill every wave, or a forced cluster split for which no
    // cluster fits, runs whole; the rule's is rule_model's.
    const PrefillWork ran = prefill_work(call.tokens, static_cast<int>(*n), call.rows, call.cols, kTile, kTile,
                                         call.multiprocessors, split, rule_model);
    auto& [sum, count] = sums[{static_cast<int>(*n), split_as_run(ran)}];
    sum += value.get<double>();
    ++count;
  }
};

}  // namespace

std::vector<PrefillTimedCall> load_prefill_timings(const std::filesystem::path& file, int multiprocessors) {
  if (multiprocessors < 1) throw Error(str_cat("multiprocessors: ", multiprocessors, " is not positive"));
  const nlohmann::json rows = read_json_file(file);
  if (!rows.is_array()) throw Error(str_cat(file.string(), ": not a JSON array of benchmark rows"));
  std::vector<PrefillTimedCall> calls;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const std::string where = str_cat(file.string(), ": row ", i);
    const nlohmann::json& row = rows[i];
    if (!row.is_object()) throw Error(str_cat(where, ": not an object"));
    TimedCallBuilder b;
    b.call.source = where;
    b.call.multiprocessors = row.contains("multiprocessors") ? static_cast<int>(positive_integer(row, "multiprocessors", where))
                                                              : multiprocessors;
    std::tie(b.call.rows, b.call.cols) = weight_shape(row, where);
    if (b.call.rows % kTile != 0 || b.call.cols % kTile != 0)
      throw Error(str_cat(where, ": the weight ", b.call.rows, "x", b.call.cols, " is not made of ", kTile, "x", kTile, " tiles"));
    b.call.tokens = positive_integer(row, "tokens", where);
    if (row.contains("sparsity")) {
      if (!row.at("sparsity").is_number()) throw Error(str_cat(where, ": 'sparsity' is ", row.at("sparsity").dump(), ", not a number"));
      b.call.sparsity = row.at("sparsity").get<double>();
    }
    b.call.two_four_share = std::clamp(b.call.sparsity / 50, 0.0, 1.0);
    if (const auto it = row.find("two_four_tile_share"); it != row.end()) {
      if (!it->is_number() || !(it->get<double>() >= 0 && it->get<double>() <= 1))
        throw Error(str_cat(where, ": 'two_four_tile_share' is ", it->dump(), ", not a number from 0 to 1"));
      b.call.two_four_share = it->get<double>();
    }
    b.rule_model.two_four_share = b.call.two_four_share;
    b.rule_model.cluster_in_rule = optional_flag(row, "prefill_rule_has_cluster_split", where);
    b.rule_model.multicast_in_rule = optional_flag(row, "prefill_rule_has_multicast", where);
    b.rule_model.multicast_stream_k_in_rule = optional_flag(row, "prefill_rule_has_multicast_stream_k", where);
    std::string field;
    for (auto fields : {std::initializer_list<const char*>{"prefill_kernel_us_by_variant", "wgmma_us_by_tokens_per_tile_and_split"},
                        std::initializer_list<const char*>{"prefill_kernel_us_by_tile_tokens", "us_by_tokens_per_tile"}})
      if (const nlohmann::json* timings = timings_field(row, fields, where, field))
        for (const auto& [key, value] : timings->items()) b.add(key, value, str_cat(where, ", '", field, "'"));
    for (const auto& [variant, total] : b.sums)
      b.call.variants.push_back({variant.first, variant.second, total.first / total.second});
    if (b.call.variants.size() >= 2) calls.push_back(std::move(b.call));
  }
  return calls;
}

namespace {

// The work split each timed variant ran (prefill_work with its N and split), which no model changes: built once per
// fit, not once per model of the grid.
std::vector<PrefillWork> works_of(const PrefillTimedCall& call) {
  std::vector<PrefillWork> works;
  works.reserve(call.variants.size());
  for (const PrefillVariant& v : call.variants)
    works.push_back(prefill_work(call.tokens, v.tokens_per_tile, call.rows, call.cols, kTile, kTile, call.multiprocessors, v.split));
  return works;
}

PrefillPick pick_with(const PrefillTimedCall& call, const std::vector<PrefillWork>& works, PrefillCostModel model) {
  if (call.variants.empty()) throw Error(str_cat(call.source, ": no variant timed"));
  model.two_four_share = call.two_four_share;
  PrefillPick pick;
  double best_cost = 0;
  bool picked = false;
  for (std::size_t i = 0; i < call.variants.size(); ++i) {  // in (N, whole, stream-K, cluster) order: the first of a tie stays
    const PrefillVariant& v = call.variants[i];
    if (i == 0 || v.us < pick.fastest.us) pick.fastest = v;
    // An x-multicast split the model's rule does not weigh (its N, token count, tail guard) is only ever the fastest.
    if (works[i].multicast > 1 && !prefill_rule_weighs_multicast(works[i], v.tokens_per_tile, call.tokens, model)) continue;
    const double cost = prefill_cost(works[i], v.tokens_per_tile, model);
    if (!picked || cost < best_cost * (1 - 1e-12)) pick.picked = v, best_cost = cost, picked = true;
  }
  if (!picked) throw Error(str_cat(call.source, ": no variant the rule weighs was timed"));
  pick.regret = pick.picked.us / pick.fastest.us;
  return pick;
}

PrefillRegret regret_with(const std::vector<PrefillTimedCall>& calls, const std::vector<std::vector<PrefillWork>>& works,
                          const PrefillCostModel& model) {
  PrefillRegret r;
  double log_sum = 0;
  for (std::size_t i = 0; i < calls.size(); ++i) {
    const double regret = pick_with(calls[i], works[i], model).regret;
    log_sum += std::log(regret);
    if (r.worst_call < 0 || regret > r.worst) r.worst = regret, r.worst_call = static_cast<int>(i);
  }
  r.calls = static_cast<int>(calls.size());
  if (r.calls > 0) r.geometric_mean = std::exp(log_sum / r.calls);
  return r;
}

std::vector<std::vector<PrefillWork>> works_of(const std::vector<PrefillTimedCall>& calls) {
  std::vector<std::vector<PrefillWork>> works;
  works.reserve(calls.size());
  for (const PrefillTimedCall& call : calls) works.push_back(works_of(call));
  return works;
}

}  // namespace

PrefillPick pick_by_cost_model(const PrefillTimedCall& call, const PrefillCostModel& model) {
  return pick_with(call, works_of(call), model);
}

PrefillRegret prefill_regret(const std::vector<PrefillTimedCall>& calls, const PrefillCostModel& model) {
  return regret_with(calls, works_of(calls), model);
}

PrefillCostGrid default_prefill_cost_grid(bool with_cluster, bool with_multicast) {
  PrefillCostGrid grid{{60, 80, 90, 100, 110, 120, 125, 130, 140, 160, 180, 200, 250, 300},
                       {1.0, 1.1, 1.15, 1.2, 1.25, 1.3, 1.35, 1.4, 1.5, 1.6, 1.8},
                       {0, 2, 4, 6, 8, 10, 12, 15, 20, 30}};
  if (with_cluster) {
    grid.cluster_step_cost = {1.0, 1.1, 1.2, 1.3, 1.4, 1.6};
    grid.cluster_exchange = {0, 1, 2, 3, 4, 6, 8, 12};
  }
  if (with_multicast) {
    grid.multicast_step_cost = {0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15};
    grid.multicast_two_four_step_cost = {0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0, 1.05};
    grid.multicast_prologue = {0, 2, 4, 6, 8, 12, 16, 24};
  }
  return grid;
}

PrefillCostGrid multicast_only_prefill_cost_grid() {
  PrefillCostGrid grid = default_prefill_cost_grid(false, true);
  grid.tokens_per_slope_step = {1.0 / kPrefillCostModel.step_cost_per_token};
  grid.stream_k_step_cost = {kPrefillCostModel.stream_k_step_cost};
  grid.stream_k_exchange = {kPrefillCostModel.stream_k_exchange};
  return grid;
}

void widen_multicast_grid(PrefillCostGrid& grid) {
  grid.multicast_tokens_per_tile = {static_cast<double>(kPrefillCostModel.multicast_tokens_per_tile), 0};
  grid.multicast_min_tokens = {256, 384, 512, 768, 1024};
}

bool same_prefill_cost_model(const PrefillCostModel& a, const PrefillCostModel& b) {
  return a.step_cost_per_token == b.step_cost_per_token && a.stream_k_step_cost == b.stream_k_step_cost &&
         a.stream_k_exchange == b.stream_k_exchange && a.cluster_step_cost == b.cluster_step_cost &&
         a.cluster_exchange == b.cluster_exchange && a.cluster_in_rule == b.cluster_in_rule &&
         a.multicast_step_cost == b.multicast_step_cost && a.multicast_two_four_step_cost == b.multicast_two_four_step_cost &&
         a.multicast_prologue == b.multicast_prologue && a.multicast_in_rule == b.multicast_in_rule &&
         a.multicast_tokens_per_tile == b.multicast_tokens_per_tile && a.multicast_min_tokens == b.multicast_min_tokens &&
         a.multicast_stream_k_in_rule == b.multicast_stream_k_in_rule;
}

bool has_multicast_variants(const std::vector<PrefillTimedCall>& calls) {
  for (const PrefillTimedCall& call : calls)
    for (const PrefillVariant& v : call.variants)
      if (multicast_cluster_size(v.split) == 2) return true;
  return false;
}

bool has_cluster_variants(const std::vector<PrefillTimedCall>& calls) {
  for (const PrefillTimedCall& call : calls)
    for (const PrefillVariant& v : call.variants)
      if (v.split == PrefillSplit::cluster) return true;
  return false;
}

std::vector<PrefillFit> fit_prefill_cost_model(const std::vector<PrefillTimedCall>& calls, const PrefillCostGrid& grid) {
  for (double tokens_per_step : grid.tokens_per_slope_step)
    if (!(tokens_per_step > 0)) throw Error(str_cat("cost grid: tokens per slope step ", tokens_per_step, " is not positive"));
  // One axis per constant: the values the grid gives it and where it goes in the model.
  struct Axis {
    const std::vector<double>& values;
    void (*set)(PrefillCostModel&, double);
  };
  const Axis axes[] = {
      {grid.tokens_per_slope_step, [](PrefillCostModel& m, double v) { m.step_cost_per_token = 1.0 / v; }},
      {grid.stream_k_step_cost, [](PrefillCostModel& m, double v) { m.stream_k_step_cost = v; }},
      {grid.stream_k_exchange, [](PrefillCostModel& m, double v) { m.stream_k_exchange = v; }},
      {grid.cluster_step_cost, [](PrefillCostModel& m, double v) { m.cluster_step_cost = v; }},
      {grid.cluster_exchange, [](PrefillCostModel& m, double v) { m.cluster_exchange = v; }},
      {grid.multicast_step_cost, [](PrefillCostModel& m, double v) { m.multicast_step_cost = v; }},
      {grid.multicast_two_four_step_cost, [](PrefillCostModel& m, double v) { m.multicast_two_four_step_cost = v; }},
      {grid.multicast_prologue, [](PrefillCostModel& m, double v) { m.multicast_prologue = v; }},
      {grid.multicast_tokens_per_tile, [](PrefillCostModel& m, double v) { m.multicast_tokens_per_tile = static_cast<int>(v); }},
      {grid.multicast_min_tokens, [](PrefillCostModel& m, double v) { m.multicast_min_tokens = static_cast<std::int64_t>(v); }},
  };
  constexpr std::size_t kAxes = std::size(axes);
  const std::vector<std::vector<PrefillWork>> works = works_of(calls);
  std::vector<PrefillFit> fits;
  for (const Axis& axis : axes)
    if (axis.values.empty()) return fits;
  // Every combination, the last axis fastest (as nested loops in the axes' order would go: ties keep that order).
  std::size_t at[kAxes] = {};
  for (bool more = true; more;) {
    PrefillCostModel model;
    for (std::size_t a = 0; a < kAxes; ++a) axes[a].set(model, axes[a].values[at[a]]);
    fits.push_back({model, regret_with(calls, works, model)});
    more = false;
    for (std::size_t a = kAxes; a-- > 0;) {
      if (++at[a] < axes[a].values.size()) {
        more = true;
        break;
      }
      at[a] = 0;
    }
  }
  std::stable_sort(fits.begin(), fits.end(), [](const PrefillFit& a, const PrefillFit& b) {
    if (a.regret.geometric_mean != b.regret.geometric_mean) return a.regret.geometric_mean < b.regret.geometric_mean;
    return a.regret.worst < b.regret.worst;
  });
  return fits;
}

PrefillSplitBests best_by_split(const PrefillTimedCall& call) {
  PrefillSplitBests bests;
  bests.whole.split = PrefillSplit::whole, bests.stream_k.split = PrefillSplit::stream_k;
  bests.cluster.split = PrefillSplit::cluster;
  for (const PrefillVariant& v : call.variants) {
    if (multicast_cluster_size(v.split) > 0) continue;  // not a last-wave split
    PrefillVariant& best = v.split == PrefillSplit::stream_k ? bests.stream_k
                           : v.split == PrefillSplit::cluster ? bests.cluster
                                                              : bests.whole;
    if (best.tokens_per_tile == 0 || v.us < best.us) best = v;
  }
  return bests;
}

std::string prefill_shape_text(const PrefillTimedCall& call) { return str_cat(call.rows, "x", call.cols); }

std::string prefill_variant_text(const PrefillVariant& variant) {
  // A variant's split is one it ran as, never the rule's (which has no name here): "whole" for that too, as before.
  const PrefillSplit split = variant.split == PrefillSplit::rule ? PrefillSplit::whole : variant.split;
  return str_cat(variant.tokens_per_tile, "/", prefill_split_name(split));
}

}  // namespace patchlm::kernels
