#pragma once
// The hybrid GEMM benchmark behind `patchlm bench gemm` and bench/hybrid_gemm: the hybrid dense/2:4 kernel against
// cuBLAS bf16 dense and cuSPARSELt 2:4, in the same run on the same GPU, on LLaMA-2-7B / LLaMA-3.1-8B linear shapes
// with PATCH-like random tile patterns (a share 2σ of the 128×128 tiles 2:4, the rest dense). Every op is timed
// inside a CUDA graph cycling through enough weight copies to exceed 4× the L2 cache, so weights stream from HBM as
// in a real decode step (or, with `eager`, launched one by one from the host over the same copies, as the engine's
// prefill launches); the kernel is autotuned (packing tile, CTAs per SM, ring depth) per case.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kernels/prefill_cost.h"

namespace patchlm::kernels {

struct GemmShape {
  std::int64_t rows = 0, cols = 0;  // W [out, in]
};

inline constexpr int kMaxBenchTokens = 8192;
inline constexpr int kMaxKernelBenchTokens = 512;  // the decode kernel is timed up to here (chunks of 64 past 64)
inline constexpr int kMaxBenchRounds = 50;         // --rounds

struct GemmBenchOptions {
  std::vector<GemmShape> shapes{{4096, 4096}, {11008, 4096}, {4096, 11008}, {14336, 4096}, {4096, 14336}};
  std::vector<int> tokens{1, 4, 16, 64};
  std::vector<int> sparsities{0, 25, 35, 45, 50};  // global sparsity σ in %
  bool quick = false;    // autotune over the configurations that won some case on an H200 only
  bool verbose = false;  // print the time of every configuration tried
  bool prefill_only = false;  // time cuBLAS and the wgmma kernel only (sweeps of the wgmma kernel's own rule)
  // Also time the wgmma kernel at these tokens per output tile (64, 72, …, 256: kTokensPerTileChoices; 128x128 tiles), whatever the rule picks.
  std::vector<int> prefill_tile_tokens;
  // Also time the wgmma kernel with its last wave's split forced ("whole", "stream-k"), at each of those tokens per
  // tile (or the rule's).
  std::vector<std::string> prefill_splits;
  // Each op's graph runs this long before it is timed (every op alike), so that it is timed at its own steady clocks
  // rather than at those the op before it left (0: one run, as before step 18 of docs/performance.md).
  double settle_ms = 200;
  // Time every op of a case this many times, interleaved (one timing of each op per round, every other round in reverse
  // order), and report each op's median round: for A/Bs of a few percent, which one reading per op cannot carry.
  int rounds = 1;
  // Where to write the wgmma kernel's per-CTA timeline of each case (kernels/prefill_trace.h; needs a build with
  // -DPATCHLM_PREFILL_TRACE=ON): one JSON per case and tokens per tile.
  std::string prefill_trace_dir;
  // Launch the hybrid kernels as dependents (kernels/dependent_launch.h): in the timed graph each call then streams
  // its first weight tiles while the call before it finishes, as in a model. false: every call on its own.
  bool dependent_launch = true;
  // Where the wgmma kernel's rule may take the cluster split (kernels/prefill_cost.h ClusterSplitUse): "graphs" (the
  // default), "always" or "never" (the rule without it).
  std::string cluster_split = cluster_split_use_name(kClusterSplitUse);
  bool x_multicast = true;  // whether the rule may take the x-multicast split (false: the rule without it, for A/Bs)
  bool multicast_stream_k = true;  // and split that split's last wave by stream-K (false: for A/Bs)
  // Time every op as eager launches from the host, one by one (as the engine's prefill launches its GEMMs), instead of
  // in a CUDA graph; rows then also give the host's time to issue one call of the wgmma kernel.
  bool eager = false;
};

// A PATCH-like keep-mask [rows, cols] (both multiples of 128): exactly round(share · tiles) random 128×128 tiles 2:4
// (a random pattern per group of 4), the rest dense.
std::vector<std::uint8_t> patch_like_mask(std::int64_t rows, std::int64_t cols, double share, std::uint64_t seed);

// "4096x4096,11008x4096" → shapes. UsageError naming `flag` and the item unless every item is OUTxIN with both
// sides positive multiples of 128 (the PATCH tile).
std::vector<GemmShape> parse_gemm_shapes(const std::string& flag, const std::string& text);

// The ops' order in round `round` (from 0) of `ops` ops: forward in even rounds, backward in odd ones, so that what runs
// just before each op (and so the clocks it starts at) alternates between rounds.
std::vector<int> interleaved_round_order(int round, int ops);

// The index of the median of `values` (the upper one of an even count, as the bench's median of 7 readings); Error
// when empty.
std::size_t median_index(const std::vector<double>& values);

// The benchmarks' --cluster-split value (gemm and e2e): "never", "graphs" or "always"; UsageError naming the option
// otherwise.
ClusterSplitUse cluster_split_use_option(const std::string& name);

// UsageError naming the option when a list is empty, a token count is outside 1..8192, a sparsity outside 0..50 or
// --rounds outside 1..50.
void validate_gemm_bench(const GemmBenchOptions& options);

// Runs every case on cuda:0, printing one table row per case to stdout; returns every measurement (one object per
// case: times in µs of cuBLAS, the decode kernel (autotuned, up to 512 tokens), the unpacked weight on cuBLAS and
// the path hybrid_linear dispatches to; its speedup vs cuBLAS, the byte ceiling, TB/s, TFLOP/s, cuSPARSELt at 50 %). Error when this build has no
// CUDA kernels or no CUDA device is visible.
nlohmann::ordered_json run_gemm_benchmark(const GemmBenchOptions& options);

}  // namespace patchlm::kernels
