#include "learn/tile_bank.h"

#include "learn/gumbel.h"
#include "learn/tile_mask.h"
#include "util/error.h"

namespace patchlm {

TileBank::TileBank(const std::vector<at::Tensor>& layers, const at::Device& device) {
  offsets_.push_back(0);
  noise_offsets_.push_back(0);
  std::vector<at::Tensor> flat;
  for (const at::Tensor& l : layers) {
    if (l.dim() != 2) throw Error("tile bank: tile logits must be [rows/tr, cols/tc]");
    shapes_.push_back(l.sizes().vec());
    lengths_.push_back(l.numel());
    offsets_.push_back(offsets_.back() + l.numel());
    noise_offsets_.push_back(noise_offsets_.back() + 2 * l.numel());
    flat.push_back(l.detach().to(device, at::kFloat).reshape({-1}));
  }
  const auto on_device = at::TensorOptions().device(device);
  logits_ = (flat.empty() ? at::empty({0}, on_device.dtype(at::kFloat)) : at::cat(flat)).contiguous();
  logits_.requires_grad_(true);
  noise_offsets_on_device_ = at::tensor(noise_offsets_, at::kLong).to(device);
  lengths_on_device_ = at::tensor(lengths_, at::kLong).to(device);
}

at::Tensor TileBank::layer(std::size_t s) const {
  const std::int64_t begin = offsets_.at(s);
  return logits_.detach().narrow(0, begin, offsets_.at(s + 1) - begin).view(shapes_.at(s));  // same storage
}

TileBank::Sample TileBank::sample(std::uint64_t key, double kappa, double tau) const {
  if (empty()) return {};
  const at::Tensor noise =
      counter_gumbel_noise_layers(key, NoisePart::tiles, noise_offsets_, noise_offsets_on_device_, logits_.options())
          .view({-1, 2});
  const at::Tensor soft = soft_tiles(logits_, noise, kappa, tau);  // [Σ R·C]: the per-layer formula, all at once
  Sample out;
  // One split node (its backward one concatenation), then free reshapes — not a slice per layer, whose backward
  // would write a zero-filled full-size gradient each.
  std::vector<at::Tensor> parts = soft.split_with_sizes(lengths_);
  for (std::size_t s = 0; s < size(); ++s) out.tiles.push_back(parts[s].view(shapes_[s]));
  // unsafe: the lengths were checked when the bank was built; the checked variant reads them back on the host (a
  // device sync in the middle of the step).
  out.sums = at::segment_reduce(soft, "sum", lengths_on_device_, /*indices=*/std::nullopt, /*offsets=*/std::nullopt,
                                /*axis=*/0, /*unsafe=*/true);
  return out;
}

}  // namespace patchlm
