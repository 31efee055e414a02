// The GPU-free parts of `bench gemm` (kernels/gemm_benchmark.h): its shapes, its option checks, its PATCH-like masks
// and the interleaved rounds' order and median. Torch- and CUDA-free, so every build (the ASan one too) has and tests
// them; the timing itself is gemm_benchmark.cpp.
#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>

#include "io/mask_file.h"
#include "kernels/gemm_benchmark.h"
#include "kernels/prefill_trace.h"
#include "kernels/prefill_work.h"
#include "util/error.h"

namespace patchlm::kernels {

std::vector<GemmShape> parse_gemm_shapes(const std::string& flag, const std::string& text) {
  std::vector<GemmShape> shapes;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    const auto x = item.find('x');
    GemmShape s;
    try {
      std::size_t used_rows = 0, used_cols = 0;
      if (x == std::string::npos) throw std::invalid_argument("no x");
      s.rows = std::stoll(item.substr(0, x), &used_rows);
      s.cols = std::stoll(item.substr(x + 1), &used_cols);
      if (used_rows != x || used_cols != item.size() - x - 1) throw std::invalid_argument("trailing text");
    } catch (const std::exception&) {
      throw UsageError(str_cat(flag, ": expected OUTxIN, got ", in_quotes(item)));
    }
    if (s.rows <= 0 || s.cols <= 0 || s.rows % 128 != 0 || s.cols % 128 != 0)
      throw UsageError(str_cat(flag, ": both sides of ", in_quotes(item), " must be positive multiples of 128"));
    shapes.push_back(s);
  }
  if (shapes.empty()) throw UsageError(str_cat(flag, ": no shapes given"));
  return shapes;
}

void validate_gemm_bench(const GemmBenchOptions& o) {
  if (o.shapes.empty()) throw UsageError("--shapes: no shapes given");
  if (o.tokens.empty()) throw UsageError("--tokens: no token counts given");
  if (o.sparsities.empty()) throw UsageError("--sparsity: no sparsities given");
  if (!(o.settle_ms >= 0 && o.settle_ms <= 10000)) throw UsageError(str_cat("--settle-ms: ", o.settle_ms, " is outside 0..10000"));
  if (o.rounds < 1 || o.rounds > kMaxBenchRounds) throw UsageError(str_cat("--rounds: ", o.rounds, " is outside 1..", kMaxBenchRounds));
  for (int m : o.tokens)
    if (m < 1 || m > kMaxBenchTokens) throw UsageError(str_cat("--tokens: ", m, " is outside 1..", kMaxBenchTokens));
  for (int s : o.sparsities)
    if (s < 0 || s > 50) throw UsageError(str_cat("--sparsity: ", s, " is outside 0..50 (%)"));
  for (int n : o.prefill_tile_tokens)
    if (!prefill_tokens_per_tile_built(128, 128, n))
      throw UsageError(str_cat("--prefill-tile-tokens: ", n, " is not one of ", prefill_tokens_per_tile_choices_text()));
  for (const std::string& split : o.prefill_splits)
    if (PrefillSplit forced; !forced_prefill_split(split, forced))
      throw UsageError(str_cat("--prefill-split: ", in_quotes(split), " is not ", forced_prefill_split_names()));
  cluster_split_use_option(o.cluster_split);
  if (!o.prefill_trace_dir.empty() && !PATCHLM_PREFILL_TRACE)
    throw UsageError("--prefill-trace: this patchlm was built without the trace (cmake -DPATCHLM_PREFILL_TRACE=ON)");
}

ClusterSplitUse cluster_split_use_option(const std::string& name) {
  ClusterSplitUse use = kClusterSplitUse;
  if (!cluster_split_use_named(name, use))
    throw UsageError(str_cat("--cluster-split: ", in_quotes(name), " is not never, graphs or always"));
  return use;
}

std::vector<std::uint8_t> patch_like_mask(std::int64_t rows, std::int64_t cols, double share, std::uint64_t seed) {
  const std::int64_t tr = rows / 128, tc = cols / 128, tiles = tr * tc;
  std::vector<std::int64_t> order(static_cast<std::size_t>(tiles));
  for (std::int64_t i = 0; i < tiles; ++i) order[i] = i;
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<std::uint8_t> keep(static_cast<std::size_t>(rows * cols), 1);
  for (std::int64_t k = 0; k < std::llround(share * static_cast<double>(tiles)); ++k) {
    std::int64_t r0 = order[k] / tc * 128, c0 = order[k] % tc * 128;
    for (std::int64_t r = r0; r < r0 + 128; ++r)
      for (std::int64_t c = c0; c < c0 + 128; c += 4) pattern_fill(static_cast<int>(rng() % 6), &keep[r * cols + c]);
  }
  return keep;
}

std::vector<int> interleaved_round_order(int round, int ops) {
  std::vector<int> order(static_cast<std::size_t>(std::max(ops, 0)));
  for (int i = 0; i < ops; ++i) order[i] = round % 2 == 0 ? i : ops - 1 - i;
  return order;
}

std::size_t median_index(const std::vector<double>& values) {
  if (values.empty()) throw Error("median_index: no values");
  std::vector<std::size_t> order(values.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return values[a] < values[b]; });
  return order[order.size() / 2];
}

}  // namespace patchlm::kernels
