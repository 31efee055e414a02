#pragma once
// The work splits of the prefill kernel (hybrid_prefill.cu) and their sizes: how many output tiles, waves and stream-K
// shares a call of `tokens` tokens has at N tokens per output tile under each split — whole waves with the last one
// whole, by stream-K, by thread-block clusters, or in x-multicast clusters (PrefillSplit). The cost model and the rule
// that picks among them: prefill_cost.h; each CTA's walk through its part: prefill_work.h.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>

#include "util/host_device.h"

namespace patchlm::kernels {

// Tokens per output tile (N): 128x128 weight tiles have a kernel for each of kTokensPerTileChoices, the other tile
// shapes only for 128. Chosen per call together with the last wave's split by the cost model (prefill_cost.h:
// prefill_cost, prefill_tokens_per_tile) where the weight's shape is known; without it: 64 up to 64 tokens and for an odd number of
// 64-token tiles, 256 from 1024 tokens, 128 otherwise. Every multiple of 8 (wgmma's step in N) from 64 to 256 is
// there, for the waves and for the padding: with 132 SMs, 320 tokens of a 4096-row weight are 96 output tiles of 128
// tokens (36 SMs idle) or 160 of 64 (two waves), but 128 of 80; 300 tokens are 3 tiles of 128 (28 % padding) or 4 of
// 80 (7 %). Measured on an H200 (docs/performance.md, steps 17 and 20): steps of 32 in place of 64 / 128 / 256 1.083×,
// steps of 8 in place of 32 1.042× more (geometric means; up to 1.44× at 300 tokens).
constexpr int kTokensPerTile = 128;
constexpr int kSmallTokensPerTile = 64;
constexpr int kLargeTokensPerTile = 256;
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
// Their names for messages: "whole, stream-k, … or multicast-4-stream-k".
inline std::string forced_prefill_split_names() {
  std::string text;
  constexpr std::size_t count = std::size(kForcedPrefillSplits);
  for (std::size_t i = 0; i < count; ++i)
    text += std::string(i == 0 ? "" : i + 1 == count ? " or " : ", ") + prefill_split_name(kForcedPrefillSplits[i]);
  return text;
}
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

}  // namespace patchlm::kernels

