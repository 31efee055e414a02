// The tile bank (every layer's tile logits in one tensor, the soft tile choice of all layers in one pass) against
// each layer's own formula — values, ΣT and the gradient that reaches each layer's logits — the many-layer noise
// against the per-layer draws (CPU and CUDA), and the sparsity regularisers over [L] tensors against their formulas.
#include <gtest/gtest.h>

#include <ATen/core/grad_mode.h>

#include "learn/gumbel.h"
#include "learn/hybrid_mask.h"
#include "learn/regularizers.h"
#include "learn/tile_bank.h"
#include "learn/tile_mask.h"

namespace patchlm {
namespace {

const std::vector<std::vector<std::int64_t>> kShapes = {{2, 3}, {1, 1}, {4, 2}, {3, 5}, {1, 7}};

std::vector<at::Tensor> random_layers(std::uint64_t seed) {
  at::manual_seed(seed);
  std::vector<at::Tensor> out;
  for (const auto& shape : kShapes) out.push_back(at::randn(shape) * 0.3);
  return out;
}

TEST(TileBank, NoiseOfManyLayersIsEachLayersOwnNoiseBackToBack) {
  const std::uint64_t key = noise_key(7, 3, 1);
  std::vector<std::int64_t> offsets{0};
  std::vector<at::Tensor> expected;
  for (std::size_t s = 0; s < kShapes.size(); ++s) {
    const std::int64_t n = kShapes[s][0] * kShapes[s][1] * 2;
    offsets.push_back(offsets.back() + n);
    expected.push_back(counter_gumbel_noise(noise_stream(key, s, NoisePart::tiles), {n}, at::kFloat));
  }
  const at::Tensor all = counter_gumbel_noise_layers(key, NoisePart::tiles, offsets, {}, at::kFloat);
  EXPECT_TRUE(at::equal(all, at::cat(expected)));
  EXPECT_FALSE(at::equal(all, counter_gumbel_noise_layers(key, NoisePart::two_four, offsets, {}, at::kFloat)));
  EXPECT_THROW(counter_gumbel_noise_layers(key, NoisePart::tiles, {1, 4}, {}, at::kFloat), std::exception);
  EXPECT_THROW(counter_gumbel_noise_layers(key, NoisePart::tiles, {0, 4, 2}, {}, at::kFloat), std::exception);
}

TEST(TileBank, SampleEqualsEachLayersSoftTilesAndTheirGradients) {
  const std::vector<at::Tensor> initial = random_layers(3);
  const TileBank bank(initial, at::kCPU);
  const std::uint64_t key = noise_key(5, 9, 2);
  const double kappa = 7.5, tau = 1.7;
  const TileBank::Sample sample = bank.sample(key, kappa, tau);
  ASSERT_EQ(sample.tiles.size(), kShapes.size());
  ASSERT_EQ(sample.sums.numel(), static_cast<std::int64_t>(kShapes.size()));

  at::manual_seed(4);
  const at::Tensor factors = at::randn({static_cast<std::int64_t>(kShapes.size())});  // weigh each layer's ΣT
  at::Tensor loss = (sample.sums * factors).sum();
  std::vector<at::Tensor> leaves, weights;
  at::Tensor ref_loss;
  for (std::size_t s = 0; s < kShapes.size(); ++s) {
    leaves.push_back(initial[s].clone().requires_grad_(true));
    const at::Tensor noise = counter_gumbel_noise(noise_stream(key, s, NoisePart::tiles),
                                                  {kShapes[s][0], kShapes[s][1], 2}, at::kFloat);
    const at::Tensor ref = soft_tiles(leaves[s], noise, kappa, tau);
    EXPECT_EQ(sample.tiles[s].sizes(), ref.sizes());
    EXPECT_TRUE(at::allclose(sample.tiles[s], ref, 1e-6, 1e-7)) << "layer " << s;
    EXPECT_NEAR(sample.sums[static_cast<std::int64_t>(s)].item<double>(), ref.sum().item<double>(), 1e-5);
    weights.push_back(at::randn(kShapes[s]));
    loss = loss + (sample.tiles[s] * weights[s]).sum();
    const at::Tensor term = (ref * weights[s]).sum();
    ref_loss = ref_loss.defined() ? ref_loss + term : term;
  }
  for (std::size_t s = 0; s < kShapes.size(); ++s) {
    const at::Tensor noise = counter_gumbel_noise(noise_stream(key, s, NoisePart::tiles),
                                                  {kShapes[s][0], kShapes[s][1], 2}, at::kFloat);
    ref_loss = ref_loss + soft_tiles(leaves[s], noise, kappa, tau).sum() * factors[static_cast<std::int64_t>(s)];
  }
  loss.backward();
  ref_loss.backward();
  const at::Tensor grad = bank.logits().grad();
  ASSERT_TRUE(grad.defined());
  for (std::size_t s = 0; s < kShapes.size(); ++s) {
    const at::Tensor g = grad.narrow(0, bank.offset(s), leaves[s].numel()).view(kShapes[s]);
    EXPECT_TRUE(at::allclose(g, leaves[s].grad(), 1e-5, 1e-6)) << "layer " << s << ": " << (g - leaves[s].grad()).abs().max();
  }
}

TEST(TileBank, LayerViewsSeeUpdatesAndCarryNoHistory) {
  const std::vector<at::Tensor> initial = random_layers(8);
  const TileBank bank(initial, at::kCPU);
  for (std::size_t s = 0; s < kShapes.size(); ++s) {
    EXPECT_TRUE(at::equal(bank.layer(s), initial[s]));
    EXPECT_FALSE(bank.layer(s).requires_grad());
  }
  {
    at::NoGradGuard no_grad;
    bank.logits().add_(1.0);
  }
  for (std::size_t s = 0; s < kShapes.size(); ++s) EXPECT_TRUE(at::allclose(bank.layer(s), initial[s] + 1.0));
  EXPECT_TRUE(bank.logits().is_leaf());
  EXPECT_TRUE(bank.logits().requires_grad());
}

TEST(TileBankCuda, SampleAndNoiseMatchTheCpu) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  const std::vector<at::Tensor> initial = random_layers(12);
  const TileBank cpu(initial, at::kCPU), gpu(initial, at::Device(at::kCUDA, 0));
  const std::uint64_t key = noise_key(1, 2, 3);
  const TileBank::Sample a = cpu.sample(key, 20.0, 2.5), b = gpu.sample(key, 20.0, 2.5);
  ASSERT_TRUE(b.sums.is_cuda());
  for (std::size_t s = 0; s < kShapes.size(); ++s)
    EXPECT_TRUE(at::allclose(a.tiles[s], b.tiles[s].cpu(), 1e-5, 1e-6)) << "layer " << s;
  EXPECT_TRUE(at::allclose(a.sums, b.sums.cpu(), 1e-5, 1e-6));
  (a.sums.sum() + a.tiles[3].sum()).backward();
  (b.sums.sum() + b.tiles[3].sum()).backward();
  EXPECT_TRUE(at::allclose(cpu.logits().grad(), gpu.logits().grad().cpu(), 1e-4, 1e-6));
}

TEST(Regularizers, OverLayerTensorsTheyFollowTheirFormulas) {
  // Three layers in two blocks: density = ΣΣM / Σnumel; per block the mean of |density_b − target|.
  const at::Tensor kept = at::tensor({30.0f, 10.0f, 50.0f}).requires_grad_(true);
  const KeptMasks m{kept, at::tensor({40.0f, 40.0f, 80.0f})};
  EXPECT_NEAR(density(m).item<double>(), 90.0 / 160.0, 1e-7);
  EXPECT_NEAR(sparsity_regularizer(m, 0.6).item<double>(), 0.6 - 90.0 / 160.0, 1e-7);
  const at::Tensor membership = block_membership({4, 4, 9}, at::kFloat);
  EXPECT_TRUE(at::equal(membership, at::tensor({1.0f, 1.0f, 0.0f, 0.0f, 0.0f, 1.0f}).view({2, 3})));
  const at::Tensor per_block = per_block_sparsity_regularizer(m, membership, 0.6);
  EXPECT_NEAR(per_block.item<double>(), (std::abs(40.0 / 80.0 - 0.6) + std::abs(50.0 / 80.0 - 0.6)) / 2, 1e-7);
  per_block.backward();
  // d/dkept: block 0 below target (−1/80 per layer, halved by the mean), block 1 above (+1/80, halved).
  EXPECT_TRUE(at::allclose(kept.grad(), at::tensor({-1.0f / 160, -1.0f / 160, 1.0f / 160})));
  EXPECT_THROW(per_block_sparsity_regularizer(m, block_membership({0, 1}, at::kFloat), 0.6), std::exception);
  // Stacked single layers give the same as the tensors.
  const KeptMasks stacked = kept_masks({{at::scalar_tensor(30.0), 40}, {at::scalar_tensor(10.0), 40}, {at::scalar_tensor(50.0), 80}});
  EXPECT_NEAR(density(stacked).item<double>(), 90.0 / 160.0, 1e-7);
  // ΣM of hybrid masks from ΣT: area · (ΣT + tiles) / 2 — all at once as one by one.
  const at::Tensor soft = at::rand({3, 4});
  const TileShape tile{16, 8};
  EXPECT_NEAR(hybrid_kept_of_sums(soft.sum().reshape({1}), at::tensor({12.0f}), tile).item<double>(),
              hybrid_kept(soft, MaskMode::tile, 48, 32, tile).item<double>(), 1e-3);
}

}  // namespace
}  // namespace patchlm
