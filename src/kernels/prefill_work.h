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
#include <vector>

#include "kernels/prefill_cost.h"
#include "util/host_device.h"

namespace patchlm::kernels {

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

