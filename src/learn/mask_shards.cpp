#include "learn/mask_shards.h"

#include "util/error.h"

namespace patchlm {

ShardCollectives single_rank_collectives() {
  return {[](const at::Tensor& slice) { return slice.clone(); },
          [](const at::Tensor& full) { return full.to(at::kFloat).clone(); }};
}

ShardLayout shard_layout(std::int64_t numel, int rank, int world) {
  if (world < 1 || rank < 0 || rank >= world) throw Error(str_cat("shard layout: rank ", rank, " of ", world));
  constexpr std::int64_t kAlign = 8;
  const std::int64_t per_rank = (numel + world - 1) / world;
  return {numel, (per_rank + kAlign - 1) / kAlign * kAlign, rank, world};
}

at::Tensor take_slice(const at::Tensor& full, const ShardLayout& l) {
  const at::Tensor flat = full.reshape({-1});
  if (flat.numel() != l.numel) throw Error(str_cat("shard: a tensor of ", flat.numel(), " elements, the layout has ", l.numel));
  at::Tensor slice = at::zeros({l.slice}, full.options());
  const std::int64_t begin = std::min(l.offset(), l.numel), end = std::min(l.offset() + l.slice, l.numel);
  if (end > begin) slice.narrow(0, 0, end - begin).copy_(flat.narrow(0, begin, end - begin));
  return slice;
}

at::Tensor gather_full(const at::Tensor& slice, const ShardLayout& l, at::IntArrayRef shape,
                       const ShardCollectives& c) {
  const at::Tensor all = c.all_gather(slice);
  if (all.numel() != l.padded()) throw Error(str_cat("shard: all-gather returned ", all.numel(), " elements, not ", l.padded()));
  return all.narrow(0, 0, l.numel).view(shape);
}

at::Tensor scatter_mean(const at::Tensor& full_grad, const ShardLayout& l, const ShardCollectives& c) {
  at::Tensor padded = full_grad.reshape({-1}).to(at::kFloat);
  if (padded.numel() != l.numel) throw Error(str_cat("shard: a gradient of ", padded.numel(), " elements, the layout has ", l.numel));
  if (l.padded() != l.numel) padded = at::constant_pad_nd(padded, {0, l.padded() - l.numel});
  const at::Tensor mine = c.reduce_scatter_mean(padded.contiguous());
  if (mine.numel() != l.slice) throw Error(str_cat("shard: reduce-scatter returned ", mine.numel(), " elements, not ", l.slice));
  return mine;
}

}  // namespace patchlm
