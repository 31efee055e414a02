#pragma once
// How the prefill kernel (hybrid_prefill.cu) shares its work among CTAs: persistent CTAs, at most one per
// multiprocessor; whole output tiles in waves, the last one whole or split by stream-K — whichever the cost model
// (prefill_cost) prices lower, which also picks the tokens per output tile.
//
// The output is cut into output tiles (one row block × N tokens), numbered o in bands of token tiles (output_tile), so
// that CTAs running at the same time hold the same few row blocks' weights and a band's x (L2 reuse).
// Each output tile takes `tiles` steps (the row block's stored tiles, along K). With C CTAs, CTA c computes output
// tiles c, c + C, c + 2C, … whole for `full_waves` waves and writes them to y. The `tail_tiles` left (< C) are either
// computed whole by CTAs 0 … tail_tiles − 1 (the other CTAs idle), or their steps, in order, are cut into contiguous
// shares (stream-K), one for each of the first stream_ctas CTAs: of equal length, or weighed (weigh_stream_k_split) of
// equal cost. A share starts at most once inside an output tile; that piece (a "contribution") goes to the CTA's fp32
// partial-sum slot and raises its flag. The CTA whose share holds the tile's first step computes that piece last in
// its share, waits for the flags of the CTAs that contributed (the following shares', which computed their pieces
// first), adds their sums and writes y — no atomics, no zeroed output buffer, no second kernel. Host and device walk
// the same code (tests/kernels/test_prefill_work.cpp checks it).
// Residency: a finisher spins on other CTAs, so those must be running. Shares go to CTAs in reverse order, which makes
// them earlier CTAs (lower blockIdx, dispatched first — the order CUDA launches a grid in, which CUTLASS's stream-K
// relies on as well): they hold an SM even where other streams' kernels keep some SMs busy for the whole call.
// The shares' boundaries are a table in the work description: equal numbers of steps, or (weigh_stream_k_split, on
// the host per call) equal cost — a 2:4 tile's step is cheaper than a dense one's.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#ifdef __CUDACC__
#define PATCHLM_HOST_DEVICE __host__ __device__
#else
#define PATCHLM_HOST_DEVICE
#endif

namespace patchlm::kernels {

// Tokens per output tile (N): 128x128 weight tiles have a kernel for each of kTokensPerTileChoices, the other tile
// shapes only for 128. Chosen per call together with the last wave's split by the cost model below (prefill_cost,
// prefill_tokens_per_tile) where the weight's shape is known; without it: 64 up to 64 tokens and for an odd number of
// 64-token tiles, 256 from 1024 tokens, 128 otherwise. Every multiple of 8 (wgmma's step in N) from 64 to 256 is
// there, for the waves and for the padding: with 132 SMs, 320 tokens of a 4096-row weight are 96 output tiles of 128
// tokens (36 SMs idle) or 160 of 64 (two waves), but 128 of 80; 300 tokens are 3 tiles of 128 (28 % padding) or 4 of
// 80 (7 %). Measured on an H200 (docs/performance.md, steps 17 and 20): steps of 32 in place of 64 / 128 / 256 1.083×,
// steps of 8 in place of 32 1.042× more (geometric means; up to 1.44× at 300 tokens).
constexpr int kTokensPerTile = 128;
constexpr int kSmallTokensPerTile = 64;
constexpr int kLargeTokensPerTile = 256;
// The rule weighs x multicast only where it was timed: N = 256, from 1024 tokens.
constexpr int kMulticastRuleTokensPerTile = 256;
constexpr std::int64_t kMulticastRuleMinTokens = 1024;
// …and its last wave by stream-K only behind this many whole waves of cluster tiles: there the tail took 0.998–1.04×
// the whole last wave's time wherever the model priced it lower (docs/performance.md step 28: 11008×4096 at 2048 tokens,
// 12288×4096 and 14336×4096 at 1536, 22016×4096 at 1024–2048, 28672×4096 at 1536–8192; H100 and H200), while behind
// one wave it lost what the model priced as a gain (4096×14336 at 1536 tokens: 1.06–1.09× the rule without it).
constexpr int kMulticastStreamKMinWaves = 4;
inline constexpr int kTokensPerTileChoices[] = {64,  72,  80,  88,  96,  104, 112, 120, 128, 136, 144, 152, 160,
                                                168, 176, 184, 192, 200, 208, 216, 224, 232, 240, 248, 256};

// Whether the kernel for these weight tiles also comes with the other tokens per tile (else only 128).
constexpr bool prefill_has_small_and_large_tiles(int tile_height, int tile_width) {
  return tile_height == 128 && tile_width == 128;
}
constexpr bool prefill_tokens_per_tile_built(int tile_height, int tile_width, int n) {
  if (n == kTokensPerTile) return true;
  if (!prefill_has_small_and_large_tiles(tile_height, tile_width)) return false;
  for (int c : kTokensPerTileChoices)
    if (c == n) return true;
  return false;
}
// kTokensPerTileChoices as "64, 72, …, 256", for messages.
inline std::string prefill_tokens_per_tile_choices_text() {
  std::string text;
  for (int n : kTokensPerTileChoices) text += (text.empty() ? "" : ", ") + std::to_string(n);
  return text;
}

// The most CTAs that share a stream-K tail (the share table's size): at least the SMs of any sm_90 part (132).
constexpr int kMaxStreamCtas = 160;
// The most CTAs of a thread-block cluster that split one output tile's K steps (PrefillSplit::cluster): 4, not the
// portable limit of 8 — clusters of 8 ran 0.66–0.71× of the best other split in every call that formed them on an H200,
// clusters of 4 1.09–1.14× faster (docs/performance.md step 22).
constexpr int kMaxClusterCtas = 4;
// The cluster split has kernels for 128x128 weight tiles at every N (no spills, no serialised wgmmas:
// scripts/kernel_sass.sh).
constexpr bool prefill_cluster_kernel_built(int tile_height, int tile_width, int n) {
  return prefill_has_small_and_large_tiles(tile_height, tile_width) && prefill_tokens_per_tile_built(tile_height, tile_width, n);
}
// The x-multicast split (PrefillSplit::multicast_2 / multicast_4) has kernels for 128x128 weight tiles at N = 128,
// 160, …, 256: each rank of a cluster of 2 or 4 loads N / 2 or N / 4 of a tile's x rows (whole 8-row swizzle atoms).
constexpr bool prefill_multicast_kernel_built(int tile_height, int tile_width, int n) {
  return prefill_has_small_and_large_tiles(tile_height, tile_width) && n >= 128 && n % 32 == 0 &&
         prefill_tokens_per_tile_built(tile_height, tile_width, n);
}

// A work split's sizes: all that the cost model prices (prefill_cost). PrefillWork adds the shares' boundaries; the
// rule prices three candidates for each of the 25 N, so it builds these and the boundaries only for the split it
// returns (whole PrefillWorks for every candidate took ~11 µs of host time per call, twice per eager GEMM call).
struct PrefillWorkSizes {
  int token_tiles = 0;   // ⌈tokens / N⌉
  int row_blocks = 0;    // rows / tile height
  int tiles = 0;         // steps per output tile: cols / tile width
  int ctas = 0;          // C, at most one per multiprocessor
  int full_waves = 0;    // whole output tiles per CTA
  int tail_tiles = 0;    // output tiles full_waves · C … + tail_tiles
  bool split_tail = false;  // stream-K over the tail (else whole tiles for the first tail_tiles CTAs)
  int stream_ctas = 0;      // CTAs 0 … stream_ctas − 1 share the tail's steps (each at least kMinStreamSteps)
  // > 1: the tail is split by clusters instead (PrefillSplit::cluster; split_tail is set too): tail tile q's K steps are
  // shared by the `cluster` CTAs q · cluster … of one thread-block cluster, rank r's the tail's steps
  // [share_begin[q · cluster + r], share_begin[q · cluster + r + 1]) — shares that never leave their tile, one each,
  // stream_ctas = tail_tiles · cluster of them, in CTA order. The CTAs add up their sums through distributed shared
  // memory (kernels/cluster_reduce.h): no workspace, no flags, no CTA waiting for one outside its cluster.
  int cluster = 1;
  // > 1: x multicast (PrefillSplit::multicast_2 / multicast_4 and their -stream-k forms): the CTAs of a cluster of
  // `multicast` walk the K steps of `multicast` neighbouring row blocks of one token tile together, in column order,
  // and each x panel comes once from L2 for all of them — every rank loads 1 / multicast of its token rows into every
  // rank's ring. The work is then cluster tiles (multicast row blocks × one token tile) in waves of ctas / multicast
  // clusters: full_waves and tail_tiles count cluster tiles. Output tile o is rank o % multicast of cluster tile
  // o / multicast (output_tile). The tail is whole cluster tiles, or (split_tail) stream-K by whole clusters: the
  // tail's cluster-tile steps in shares, one per cluster of the first stream_ctas / multicast, every rank of a
  // cluster taking the same steps of its own row block (so the ranks stay in lockstep on the shared x panels); each
  // rank's contributions are exchanged with the same rank of other clusters (PrefillWalk::exchange_slot).
  int multicast = 1;
};

struct PrefillWork : PrefillWorkSizes {
  // Share p — CTA stream_ctas − 1 − p's; with x multicast every rank's of cluster stream_shares − 1 − p — is the
  // tail's steps [share_begin[p], share_begin[p + 1]), the tail's step q · tiles + k being step k of its output tile
  // (or cluster tile) q, in order from the first after the whole waves. Strictly increasing: no share is empty (a
  // finisher waits for every share that starts inside its tile).
  std::int32_t share_begin[kMaxStreamCtas + 1] = {};
};

// A stream-K share gets at least this many steps (fewer CTAs otherwise), so that a share is not mostly epilogue.
constexpr int kMinStreamSteps = 4;

// How many stream-K shares a split's tail has: one per stream-K CTA, with x multicast one per cluster of them.
PATCHLM_HOST_DEVICE constexpr int stream_shares(const PrefillWorkSizes& w) {
  return w.multicast > 1 ? w.stream_ctas / w.multicast : w.stream_ctas;
}

// How the last wave is shared: whole tiles (CTAs past the tail idle), stream-K, or split along K inside thread-block
// clusters (in a call of less than one wave, each tile by the largest cluster of at most kMaxClusterCtas CTAs for
// which the clusters fit the grid at once — else whole tiles); `rule` takes the cheaper of whole and stream-K by the cost model
// (prefill_cost), and the cluster split too where it is cheaper and PrefillCostModel::cluster_in_rule (off in the
// landed model; ClusterSplitUse says where the rule takes it: prefill_rule_model). Forced splits are for benchmarks
// mapping that rule. Tiles that fill whole waves are never split.
// multicast_2 / multicast_4: whole tiles in clusters of 2 / 4 CTAs that share each x panel (PrefillWorkSizes::multicast;
// the rule takes them only where PrefillCostModel::multicast_in_rule); multicast_2_stream_k / multicast_4_stream_k
// the same with the last wave's cluster tiles split by stream-K over the clusters.
enum class PrefillSplit { rule, whole, stream_k, cluster, multicast_2, multicast_4, multicast_2_stream_k, multicast_4_stream_k };

// The x-multicast splits' cluster size (0 for the others) and whether they split the tail by stream-K.
constexpr int multicast_cluster_size(PrefillSplit split) {
  return split == PrefillSplit::multicast_2 || split == PrefillSplit::multicast_2_stream_k   ? 2
         : split == PrefillSplit::multicast_4 || split == PrefillSplit::multicast_4_stream_k ? 4
                                                                                             : 0;
}
constexpr bool multicast_stream_k(PrefillSplit split) {
  return split == PrefillSplit::multicast_2_stream_k || split == PrefillSplit::multicast_4_stream_k;
}

// forced_prefill_split's name of a split; "rule" for the rule.
constexpr const char* prefill_split_name(PrefillSplit split) {
  switch (split) {
    case PrefillSplit::whole: return "whole";
    case PrefillSplit::stream_k: return "stream-k";
    case PrefillSplit::cluster: return "cluster";
    case PrefillSplit::multicast_2: return "multicast-2";
    case PrefillSplit::multicast_4: return "multicast-4";
    case PrefillSplit::multicast_2_stream_k: return "multicast-2-stream-k";
    case PrefillSplit::multicast_4_stream_k: return "multicast-4-stream-k";
    case PrefillSplit::rule: break;
  }
  return "rule";
}
inline constexpr PrefillSplit kForcedPrefillSplits[] = {
    PrefillSplit::whole,       PrefillSplit::stream_k,    PrefillSplit::cluster, PrefillSplit::multicast_2,
    PrefillSplit::multicast_4, PrefillSplit::multicast_2_stream_k, PrefillSplit::multicast_4_stream_k};

// A forced split by its name (prefill_split_name's: bench gemm --prefill-split and the sweeps' "N/<split>" keys);
// false for any other name.
inline bool forced_prefill_split(const std::string& name, PrefillSplit& split) {
  for (PrefillSplit s : kForcedPrefillSplits)
    if (name == prefill_split_name(s)) return split = s, true;
  return false;
}
inline constexpr const char* kForcedPrefillSplitNames =
    "whole, stream-k, cluster, multicast-2, multicast-4, multicast-2-stream-k or multicast-4-stream-k";
// The split a work split runs (what bench rows and the cost fit name it by): x multicast in clusters of 2 or 4 (the
// tail whole or by stream-K), whole tiles, a cluster split or stream-K.
constexpr PrefillSplit split_as_run(const PrefillWorkSizes& w) {
  if (w.multicast == 2) return w.split_tail ? PrefillSplit::multicast_2_stream_k : PrefillSplit::multicast_2;
  if (w.multicast == 4) return w.split_tail ? PrefillSplit::multicast_4_stream_k : PrefillSplit::multicast_4;
  return !w.split_tail ? PrefillSplit::whole : w.cluster > 1 ? PrefillSplit::cluster : PrefillSplit::stream_k;
}
namespace detail {
inline PrefillWorkSizes prefill_sizes_as(std::int64_t tokens, int n, std::int64_t rows, std::int64_t cols, int tile_height,
                                         int tile_width, int multiprocessors, bool split) {
  PrefillWorkSizes w;
  w.token_tiles = static_cast<int>((tokens + n - 1) / n);
  w.row_blocks = static_cast<int>(rows / tile_height);
  w.tiles = static_cast<int>(cols / tile_width);
  const std::int64_t outputs = static_cast<std::int64_t>(w.token_tiles) * w.row_blocks;
  const std::int64_t mp = std::max(1, multiprocessors);
  if (!split || outputs % mp == 0) {
    w.ctas = static_cast<int>(std::min(mp, outputs));
    w.full_waves = static_cast<int>(outputs / w.ctas);
    w.tail_tiles = static_cast<int>(outputs % w.ctas);
  } else if (outputs >= mp) {
    w.ctas = static_cast<int>(mp);
    w.full_waves = static_cast<int>(outputs / mp);
    w.tail_tiles = static_cast<int>(outputs % mp);
    w.split_tail = true;
  } else {
    w.ctas = static_cast<int>(std::clamp<std::int64_t>(outputs * w.tiles / kMinStreamSteps, 1, mp));
    w.tail_tiles = static_cast<int>(outputs);
    w.split_tail = true;
  }
  if (w.split_tail) {
    const std::int64_t steps = static_cast<std::int64_t>(w.tail_tiles) * w.tiles;
    w.stream_ctas = static_cast<int>(std::clamp<std::int64_t>(steps / kMinStreamSteps, 1, std::min(w.ctas, kMaxStreamCtas)));
  }
  return w;
}

// The cluster split, for a call of less than one wave of output tiles: the largest cluster size c ≤ kMaxClusterCtas
// that gives each tile a cluster of its own at once, each share at least kMinStreamSteps; whole tiles where none fits,
// where whole waves come first, or where there is no cluster kernel for the tiles and N (prefill_cluster_kernel_built).
// Not after whole waves: a grid of clusters then holds every SM for the whole call, and on an H200 such calls ran
// 0.62–1.0× of the best other split (11008×4096 at 80–200 tokens, a wave and a 40-tile tail by clusters of 3:
// 0.62–0.87×; 5-wave calls' tails 0.94–1.0×; docs/performance.md step 23), where single partial waves gained up to 1.37×.
inline PrefillWorkSizes prefill_sizes_cluster(std::int64_t tokens, int n, std::int64_t rows, std::int64_t cols,
                                              int tile_height, int tile_width, int multiprocessors) {
  PrefillWorkSizes w = prefill_sizes_as(tokens, n, rows, cols, tile_height, tile_width, multiprocessors, false);
  const std::int64_t outputs = static_cast<std::int64_t>(w.token_tiles) * w.row_blocks;
  const std::int64_t mp = std::max(1, multiprocessors);
  if (outputs >= mp || !prefill_cluster_kernel_built(tile_height, tile_width, n)) return w;
  for (int c = kMaxClusterCtas; c >= 2; --c) {
    if (w.tiles < c * kMinStreamSteps || outputs * c > mp || outputs * c > kMaxStreamCtas) continue;
    w.ctas = static_cast<int>(outputs * c);
    w.full_waves = 0;
    w.tail_tiles = static_cast<int>(outputs);
    w.split_tail = true;
    w.cluster = c;
    w.stream_ctas = w.ctas;
    return w;
  }
  return w;
}

// The x-multicast split in clusters of c: whole cluster tiles (c row blocks × one token tile) in waves of at most
// multiprocessors / c clusters, the last wave whole or (split) by stream-K over the clusters as prefill_sizes_as splits
// over CTAs; whole tiles without multicast where the row blocks do not split into groups of c, N not into c slices of
// whole swizzle atoms, or no multicast kernel was built for the tiles and N.
inline PrefillWorkSizes prefill_sizes_multicast(std::int64_t tokens, int n, std::int64_t rows, std::int64_t cols,
                                                int tile_height, int tile_width, int multiprocessors, int c, bool split) {
  PrefillWorkSizes w = prefill_sizes_as(tokens, n, rows, cols, tile_height, tile_width, multiprocessors, false);
  if (!prefill_multicast_kernel_built(tile_height, tile_width, n) || w.row_blocks % c != 0 || n % (8 * c) != 0) return w;
  const std::int64_t cluster_tiles = static_cast<std::int64_t>(w.token_tiles) * (w.row_blocks / c);
  const std::int64_t most = std::max(1, multiprocessors) / c;  // clusters
  if (most < 1) return w;
  w.multicast = c;
  w.split_tail = false;
  std::int64_t clusters = std::min(most, cluster_tiles);
  if (split && cluster_tiles % most != 0) {
    w.split_tail = true;
    if (cluster_tiles < most) clusters = std::clamp<std::int64_t>(cluster_tiles * w.tiles / kMinStreamSteps, 1, most);
  }
  w.ctas = static_cast<int>(clusters * c);
  w.full_waves = static_cast<int>(w.split_tail && cluster_tiles < most ? 0 : cluster_tiles / clusters);
  w.tail_tiles = static_cast<int>(cluster_tiles - static_cast<std::int64_t>(w.full_waves) * clusters);
  w.stream_ctas = 0;
  if (w.split_tail) {
    const std::int64_t steps = static_cast<std::int64_t>(w.tail_tiles) * w.tiles;
    w.stream_ctas = c * static_cast<int>(std::clamp<std::int64_t>(steps / kMinStreamSteps, 1, std::min<std::int64_t>(clusters, kMaxStreamCtas / c)));
  }
  return w;
}

// The split with its shares in equal steps: a stream-K tail's steps evenly over its CTAs, a cluster split's tiles
// each evenly over the ranks of its cluster.
inline PrefillWork with_even_shares(const PrefillWorkSizes& sizes) {
  PrefillWork w;
  static_cast<PrefillWorkSizes&>(w) = sizes;
  if (w.split_tail && w.cluster > 1) {
    const int c = w.cluster;
    for (int q = 0; q < w.tail_tiles; ++q)
      for (int r = 0; r <= c; ++r)
        w.share_begin[q * c + r] = static_cast<std::int32_t>(static_cast<std::int64_t>(q) * w.tiles + w.tiles * r / c);
  } else if (w.split_tail) {
    const std::int64_t steps = static_cast<std::int64_t>(w.tail_tiles) * w.tiles;
    const int shares = stream_shares(w);
    for (int p = 0; p <= shares; ++p) w.share_begin[p] = static_cast<std::int32_t>(steps * p / shares);
  }
  return w;
}
}  // namespace detail

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
// The x-multicast split (clusters of 2, N = 256, from 1024 tokens) is priced as whole waves of cluster tiles, each
// step multicast_step_factor× a whole tile's — 0.95 for a dense weight, 0.85 for an all-2:4 one, in proportion to the
// weight's 2:4 tile share in between (a 2:4 step halves the MMA and the weight's bytes, not x's, which the pair
// shares) — plus multicast_prologue steps once; fitted with the other constants held (step 27: `bench/fit_prefill_cost
// --only-multicast` over docs/perf/gemm_prefill_multicast_{unfenced,rule_ab}_h100.json, 129 H100 cases, mean regret
// 1.0043 — the grid's best, tied with 0.90 / 0.70 / 12 and 0.95 / 0.75 / 8). Its last wave may go by stream-K over
// the clusters instead, priced as the plain stream-K tail (stream_k_step_cost, stream_k_exchange) of multicast steps
// (step 28: with docs/perf/gemm_prefill_multicast_stream_k_sweep_h100.json, 201 H100 cases, mean regret 1.0060, still
// the grid's best; on an H200, gemm_prefill_multicast_stream_k_sweep_h200.json, 1.0050). It gains little — 0.2–0.8 %
// over the rule without it on those sweeps, up to 3–4 % where a wave of cluster tiles is 5.1–5.2 or 10.2–10.4 deep:
// a short last wave of whole tiles costs less than a full one (fewer SMs share L2 and power).
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
  bool multicast_in_rule = true;  // whether the rule may pick the x-multicast split (clusters of 2, N = 256 only)
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

// The model the dispatch rule prices a launch with: `model`, and the cluster split too where `use` allows it for this
// launch (`graph`: it is being captured into a CUDA graph), x multicast only where `multicast` (A/Bs: `patchlm bench
// gemm|e2e --no-x-multicast`) and its stream-K tail only where `multicast_stream_k` too (`--no-multicast-stream-k`), at
// the weight's 2:4 tile share (the multicast step cost depends on it). The workspace and the launch must ask alike:
// their N and split then agree.
constexpr PrefillCostModel prefill_rule_model(bool graph, ClusterSplitUse use = kClusterSplitUse, double two_four_share = 0,
                                              bool multicast = true, bool multicast_stream_k = true,
                                              const PrefillCostModel& model = kPrefillCostModel) {
  PrefillCostModel m = model;
  m.cluster_in_rule = m.cluster_in_rule || use == ClusterSplitUse::always || (graph && use == ClusterSplitUse::in_graphs);
  m.multicast_in_rule = m.multicast_in_rule && multicast;
  m.multicast_stream_k_in_rule = m.multicast_stream_k_in_rule && multicast_stream_k;
  m.two_four_share = two_four_share;
  return m;
}

// A multicast step's cost relative to a whole tile's at the model's 2:4 tile share.
constexpr double multicast_step_factor(const PrefillCostModel& model) {
  return model.multicast_step_cost + (model.multicast_two_four_step_cost - model.multicast_step_cost) * model.two_four_share;
}

constexpr double prefill_step_cost(int n, const PrefillCostModel& model = kPrefillCostModel) {
  return 1.0 + model.step_cost_per_token * (n - kSmallTokensPerTile);
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
  // x multicast in clusters of 2 at N = 256 from 1024 tokens only: the cases timed (clusters of 4 do not all fit at once
  // on an H100 — fewer than multiprocessors / 4, so a wave the model counts as one ran as two — and lost almost
  // everywhere).
  if (model.multicast_in_rule && n == kMulticastRuleTokensPerTile && tokens >= kMulticastRuleMinTokens) {
    for (bool split_tail : {false, true}) {
      if (split_tail && !model.multicast_stream_k_in_rule) continue;
      const PrefillWorkSizes shared =
          prefill_sizes_multicast(tokens, n, rows, cols, tile_height, tile_width, multiprocessors, 2, split_tail);
      if (shared.multicast > 1 && (!shared.split_tail || shared.full_waves >= kMulticastStreamKMinWaves)) take_if_cheaper(shared);
    }
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

// Which output tile o is: row block and token tile. Output tiles go in bands of kTokenTilesPerBand token tiles, row
// block by row block inside a band, so the CTAs running at once share a few token tiles' x (and the band's x stays in
// L2 while every row block passes over it) instead of each wave streaming all of x again from DRAM — which only
// happens past kTokenTilesPerBand token tiles (> 2048 tokens with 256-token tiles).
constexpr int kTokenTilesPerBand = 8;
struct OutputTile {
  int row_block = 0, token_tile = 0;
};
// With x multicast the bands order cluster tiles (groups of `multicast` row blocks), and output tile o is row block
// rank = o % multicast of cluster tile o / multicast.
// MaybeMulticast = false: for kernels built without the x-multicast split (the divisions by 1 then compile away).
template <bool MaybeMulticast = true>
PATCHLM_HOST_DEVICE inline OutputTile output_tile(const PrefillWork& w, int o) {
  const int c = MaybeMulticast ? w.multicast : 1, rank = o % c, tile = o / c;
  const int band_outputs = kTokenTilesPerBand * (w.row_blocks / c);
  const int band = tile / band_outputs, r = tile % band_outputs;
  const int left = w.token_tiles - band * kTokenTilesPerBand;  // token tiles from this band on
  const int width = left < kTokenTilesPerBand ? left : kTokenTilesPerBand;
  return {r / width * c + rank, band * kTokenTilesPerBand + r % width};
}

// Relative cost of one K step by its tile's kind (docs/performance.md, issue 21 step 14): a 2:4 tile moves 56 % of a
// dense tile's bytes and runs half its MMAs; on an H200 a call with every tile 2:4 takes 0.74× the all-dense time at
// 2048 tokens, and 0.7–0.8× where the bytes decide (64-token tiles: 34 of 48 KB per step).
constexpr std::int32_t kDenseStepCost = 4, kSparseStepCost = 3;

// Per row block rb, the cost of its first k steps (k = 0 … tiles) at [rb · (tiles + 1) + k], from each stored tile's
// 2:4 flag (`sparse(rb · tiles + k)`, the order the kernel walks a row block's tiles in).
template <class IsSparse>
std::vector<std::int32_t> row_step_cost_prefix(std::int64_t row_blocks, std::int64_t tiles, IsSparse sparse) {
  std::vector<std::int32_t> prefix(static_cast<std::size_t>(row_blocks * (tiles + 1)), 0);
  for (std::int64_t rb = 0; rb < row_blocks; ++rb)
    for (std::int64_t k = 0; k < tiles; ++k)
      prefix[rb * (tiles + 1) + k + 1] = prefix[rb * (tiles + 1) + k] + (sparse(rb * tiles + k) ? kSparseStepCost : kDenseStepCost);
  return prefix;
}

// The cluster split's shares (one output tile each) of equal cost, as weigh_stream_k_split below does for stream-K:
// rank r's share of a tile ends at the step boundary nearest r + 1 c-ths of the tile's cost (a row block stores its 2:4
// tiles first, so even steps would give the first ranks the cheap tiles). Keeps every share non-empty.
inline void weigh_cluster_split(PrefillWork& w, const std::int32_t* row_cost_prefix) {
  const int c = w.cluster, tiles = w.tiles;
  for (int q = 0; q < w.tail_tiles; ++q) {
    const std::int32_t* row = row_cost_prefix + output_tile(w, w.full_waves * w.ctas + q).row_block * (tiles + 1);
    for (int r = 1; r < c; ++r) {
      const std::int64_t target = static_cast<std::int64_t>(row[tiles]) * r / c;
      std::int64_t k = std::lower_bound(row, row + tiles + 1, target) - row;
      if (k > 0 && target - row[k - 1] < row[k] - target) --k;
      const std::int64_t previous = w.share_begin[q * c + r - 1] - static_cast<std::int64_t>(q) * tiles;
      k = std::clamp<std::int64_t>(k, previous + 1, tiles - (c - r));
      w.share_begin[q * c + r] = static_cast<std::int32_t>(static_cast<std::int64_t>(q) * tiles + k);
    }
  }
}

// Moves the stream-K shares' boundaries so that each costs the same, to within a step at either end, instead of
// having the same number of steps: a share with more dense tiles takes longer, and the finisher waiting for it with
// it. Measured on an H200: 1.02× at 64–512 tokens (up to 1.075×), unchanged at 2048 (docs/performance.md step 14).
// `row_cost_prefix`: row_step_cost_prefix of the weight. Keeps every share non-empty. A cluster split's shares go to
// weigh_cluster_split. An x-multicast split's stay in equal steps: its ranks walk their row blocks in column order, in
// lockstep, where the 2:4 tiles are not sorted first and each step lasts as long as the slowest rank's.
inline void weigh_stream_k_split(PrefillWork& w, const std::int32_t* row_cost_prefix) {
  if (w.split_tail && w.cluster > 1) return weigh_cluster_split(w, row_cost_prefix);
  if (!w.split_tail || w.stream_ctas < 2 || w.multicast > 1) return;
  const std::int64_t tiles = w.tiles, steps = static_cast<std::int64_t>(w.tail_tiles) * tiles;
  auto row_of = [&](int q) { return row_cost_prefix + output_tile(w, w.full_waves * w.ctas + q).row_block * (tiles + 1); };
  std::vector<std::int64_t> before(static_cast<std::size_t>(w.tail_tiles) + 1, 0);  // cost of the tail tiles before q
  for (int q = 0; q < w.tail_tiles; ++q) before[q + 1] = before[q] + row_of(q)[tiles];
  for (int p = 1; p < w.stream_ctas; ++p) {
    const std::int64_t target = before.back() * p / w.stream_ctas;
    const int q = static_cast<int>(std::upper_bound(before.begin(), before.end() - 1, target) - before.begin()) - 1;
    const std::int32_t* row = row_of(q);
    const std::int64_t within = target - before[q];
    std::int64_t k = std::lower_bound(row, row + tiles + 1, within) - row;  // the nearer step boundary to the target
    if (k > 0 && within - row[k - 1] < row[k] - within) --k;
    const std::int64_t b = std::clamp<std::int64_t>(q * tiles + k, w.share_begin[p - 1] + 1, steps - (w.stream_ctas - p));
    w.share_begin[p] = static_cast<std::int32_t>(b);
  }
}

// One piece of a CTA's work: steps [k_begin, k_end) of output tile `output`.
//   whole:      all steps; written to y.
//   contribute: the sums go to this CTA's partial slot, then its flag is raised.
//   finish:     the tile's first steps; then the partial slots of CTAs [first_contributor, end_contributor) — CTAs
//               before this one — are added (each once its flag is up) and the tile is written to y. Always the
//               CTA's last segment (a share's last piece; whole waves come first), which the kernel relies on: it
//               gathers the contributions through its copy ring, idle by then.
//   cluster_part: rank `cluster_rank` of the tile's cluster (PrefillWork::cluster); its sums are added to the other
//               ranks' through distributed shared memory and each rank writes a slice of the tile's tokens to y. Also
//               always the CTA's last segment: the sums wait in its idle copy ring for the other ranks to read.
struct PrefillSegment {
  enum Kind { whole, contribute, finish, cluster_part };
  int output = 0, k_begin = 0, k_end = 0;
  Kind kind = whole;
  int first_contributor = 0, end_contributor = 0;
  int cluster_rank = 0;
};

// The segments of one CTA, in the order it computes them (the producer warp and the MMA warps each walk their own).
// ClusterSplit: whether the work is a cluster split (PrefillWork::cluster > 1) — known when the code is built, so that
// the kernels built without the cluster split walk exactly as before it existed; MaybeMulticast likewise: false for
// kernels built without the x-multicast split (PrefillWork::multicast is then 1).
template <bool ClusterSplit = false, bool MaybeMulticast = true>
class PrefillWalk {
 public:
  // Keeps a pointer to `w` (in the kernel, its __grid_constant__ parameter: the share table is not copied).
  PATCHLM_HOST_DEVICE PrefillWalk(const PrefillWork& w, int cta) : w_(&w), cta_(cta) {
    if (w.split_tail && cta < w.stream_ctas) {
      step_ = share_start(position(cta));
      end_ = share_start(position(cta) + 1);
    }
  }

  PATCHLM_HOST_DEVICE bool next(PrefillSegment& s) {
    if (multicast()) {  // whole cluster tiles: cluster g's g, g + clusters, …; rank r its row block r of each
      const int c = w_->multicast, g = cta_ / c, clusters = w_->ctas / c;
      if (wave_ < w_->full_waves || (!w_->split_tail && wave_ == w_->full_waves && g < w_->tail_tiles)) {
        s = PrefillSegment{(wave_ * clusters + g) * c + cta_ % c, 0, w_->tiles};
        ++wave_;
        return true;
      }
    } else if (wave_ < w_->full_waves || (!w_->split_tail && wave_ == w_->full_waves && cta_ < w_->tail_tiles)) {
      s = PrefillSegment{wave_ * w_->ctas + cta_, 0, w_->tiles};
      ++wave_;
      return true;
    }
    if (step_ >= end_) return false;
    const int q = static_cast<int>(step_ / w_->tiles), k = static_cast<int>(step_ % w_->tiles);
    const int k_end = static_cast<int>(k + end_ - step_ < w_->tiles ? k + end_ - step_ : w_->tiles);
    // Tail tile q: with x multicast this rank's row block of tail cluster tile q.
    const int output = multicast() ? (w_->full_waves * (w_->ctas / w_->multicast) + q) * w_->multicast + cta_ % w_->multicast
                                   : w_->full_waves * w_->ctas + q;
    s = PrefillSegment{output, k, k_end};
    if constexpr (ClusterSplit) {
      s.kind = PrefillSegment::cluster_part;
      s.cluster_rank = cta_ % w_->cluster;
    } else if (k > 0) {
      s.kind = PrefillSegment::contribute;
    } else if (k_end < w_->tiles) {  // the rest of the tile: the next shares, which start inside it (earlier CTAs)
      s.kind = PrefillSegment::finish;
      const std::int64_t tile_end = static_cast<std::int64_t>(q + 1) * w_->tiles;
      int next = position(cta_) + 1;
      while (next < stream_shares(*w_) && share_start(next) < tile_end) ++next;
      s.end_contributor = exchange_slot();
      s.first_contributor = s.end_contributor - (next - position(cta_) - 1);
    }
    step_ += k_end - k;
    return true;
  }

  // This CTA's stream-K partial slot and flag (PrefillSegment::contribute; a finisher's contributors are the slots
  // [first_contributor, end_contributor) before its own): its index, or with x multicast rank · shares + cluster, so
  // that the same rank of neighbouring clusters — whose output tiles it shares — holds neighbouring slots.
  PATCHLM_HOST_DEVICE int exchange_slot() const {
    if (multicast()) return cta_ % w_->multicast * stream_shares(*w_) + cta_ / w_->multicast;
    return cta_;
  }

 private:
  PATCHLM_HOST_DEVICE bool multicast() const { return MaybeMulticast && w_->multicast > 1; }
  // Shares are handed out in reverse CTA order (CTA stream_ctas − 1 takes the first), so that the CTAs a finisher
  // waits for — the holders of the following shares — have lower indices: dispatched before it, they are running or
  // done even when other kernels hold some SMs, and their contribution is the first thing each computes. A cluster
  // split's go in CTA order: share q · cluster + r to rank r of cluster q (a cluster's CTAs are scheduled together).
  PATCHLM_HOST_DEVICE int position(int cta) const {
    if constexpr (ClusterSplit) return cta;
    if (multicast()) return stream_shares(*w_) - 1 - cta / w_->multicast;  // by clusters, every rank the same share
    return w_->stream_ctas - 1 - cta;
  }
  PATCHLM_HOST_DEVICE std::int64_t share_start(int position) const { return w_->share_begin[position]; }

  const PrefillWork* w_;
  int cta_ = 0, wave_ = 0;
  std::int64_t step_ = 0, end_ = 0;
};

}  // namespace patchlm::kernels

#undef PATCHLM_HOST_DEVICE
