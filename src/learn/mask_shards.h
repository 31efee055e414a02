#pragma once
// Sharded mask state (`--shard-masks`, ZeRO-3 over PATCH's 2:4 logits): in joint mode a 7B/8B model carries ~10
// billion 2:4 logits and twice as many AdamW moments; data parallelism alone would hold all of them on every GPU.
// Sharded, each rank owns one contiguous slice of every layer's flattened logits and of their moments:
//   - before a block's forward (and again before its recomputation in the backward pass) the layer's logits are
//     all-gathered into a temporary full tensor, which the fused mask op reads and which is freed after it;
//   - the layer's gradient, complete after the step's last micro-batch, is reduce-scattered (mean over ranks): each
//     rank receives the gradient of its own slice only and updates that slice (AdamW is elementwise, so a slice's
//     update is the unsharded update of those elements; the stochastic rounding is keyed by the global element
//     index, so it is even the same bits);
//   - checkpoints hold the full state, gathered, in the unsharded file format: a run resumes on any world size,
//     sharded or not.
// The tile logits (one per 128×128 tile: ~0.01 % of the 2:4 state) stay replicated and all-reduced.
#include <cstdint>
#include <functional>
#include <vector>

#include <ATen/ATen.h>

namespace patchlm {

// The two collectives of sharding, over the ranks of the run (distributed.h builds them over a c10d backend).
struct ShardCollectives {
  // This rank's slice [s] → every rank's slices in rank order [world·s] (all-gather).
  std::function<at::Tensor(const at::Tensor& slice)> all_gather;
  // A full fp32 tensor [world·s] on every rank → this rank's slice of the mean over ranks [s] (reduce-scatter).
  std::function<at::Tensor(const at::Tensor& full)> reduce_scatter_mean;
};

// The collectives of a single process: gathering and scattering over one rank are copies.
ShardCollectives single_rank_collectives();

// Where one tensor of `numel` elements lies across `world` ranks: rank r owns the elements [r·slice, (r+1)·slice)
// of the flattened tensor, zero-padded past its end; slice is a multiple of 8 elements (AdamW's 128-bit packs).
struct ShardLayout {
  std::int64_t numel = 0, slice = 0;
  int rank = 0, world = 1;
  std::int64_t offset() const { return static_cast<std::int64_t>(rank) * slice; }  // first element of this rank's slice
  std::int64_t padded() const { return static_cast<std::int64_t>(world) * slice; }
};
ShardLayout shard_layout(std::int64_t numel, int rank, int world);

// This rank's slice of a full tensor (contiguous [slice], same dtype and device; elements past numel are 0).
at::Tensor take_slice(const at::Tensor& full, const ShardLayout& layout);
// The full tensor of `shape` from every rank's slice (a collective: every rank calls it, in the same order).
at::Tensor gather_full(const at::Tensor& slice, const ShardLayout& layout, at::IntArrayRef shape,
                       const ShardCollectives& collectives);
// This rank's slice of the mean over ranks of a full gradient (a collective). fp32.
at::Tensor scatter_mean(const at::Tensor& full_grad, const ShardLayout& layout, const ShardCollectives& collectives);

}  // namespace patchlm
