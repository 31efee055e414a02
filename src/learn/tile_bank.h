#pragma once
// The tile logits of every masked layer in one flat fp32 tensor — one autograd leaf, one optimizer slot — each
// layer's [rows/tr, cols/tc] logits a view into it, and the soft tile choice of a micro-batch (tile_mask.h:
// T = gs([0, Lt · κt], τ)[1], with each layer's counter noise) drawn for all layers in one pass over it.
// Why: per layer, the soft choice took ~10 small ATen ops and as many again in the backward — on LLaMA-3.2-1B's 112
// layers ~2 300 kernel launches per step with nothing else to run, ~30 ms of a ~280 ms PATCH^Tile step on an H200
// (bench learn --profile): the GPU waited for the host to launch them. Now a dozen launches either way.
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

namespace patchlm {

class TileBank {
 public:
  TileBank() = default;
  // layers[s]: layer s's initial tile logits [R_s, C_s] (copied, as fp32, onto `device`).
  TileBank(const std::vector<at::Tensor>& layers, const at::Device& device);

  bool empty() const { return shapes_.empty(); }
  std::size_t size() const { return shapes_.size(); }
  // The flat leaf (requires grad): what the optimizer updates in place.
  const at::Tensor& logits() const { return logits_; }
  // Layer s's logits [R_s, C_s]: a view of logits() without autograd history (reads see every update).
  at::Tensor layer(std::size_t s) const;
  std::int64_t offset(std::size_t s) const { return offsets_.at(s); }  // of layer s's first logit in logits()
  // [L] int64 on the bank's device: each layer's number of tiles.
  const at::Tensor& tile_counts() const { return lengths_on_device_; }

  struct Sample {
    std::vector<at::Tensor> tiles;  // per layer: soft T [R_s, C_s], views of one tensor differentiable in logits()
    at::Tensor sums;                // [L]: Σ T of each layer, differentiable
  };
  // The soft tile choice of every layer under a micro-batch's noise key (gumbel.h: layer s draws from
  // noise_stream(key, s, NoisePart::tiles), exactly as a per-layer draw would).
  Sample sample(std::uint64_t key, double kappa, double tau) const;

 private:
  at::Tensor logits_;
  std::vector<std::vector<std::int64_t>> shapes_;
  std::vector<std::int64_t> offsets_;        // L + 1, in logits
  std::vector<std::int64_t> lengths_;        // L: each layer's number of logits
  std::vector<std::int64_t> noise_offsets_;  // L + 1, in noise values (two per logit)
  at::Tensor noise_offsets_on_device_, lengths_on_device_;
};

}  // namespace patchlm
