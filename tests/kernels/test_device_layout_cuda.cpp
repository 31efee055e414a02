// The weight's bytes on the GPU against the host (skipped where no CUDA device is present): the device unpack against
// the host unpack, and the in-place rewrite at upload into the device layout (docs/format.md "On the GPU") against the
// layout derived on the host. tests/kernels/test_tile_layouts.cpp checks the layouts' invariants without a GPU.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "hybrid_fixtures.h"
#include "hybrid_gpu.h"
#include "kernels/hybrid_linear.h"

namespace patchlm {
namespace {

// The device unpack is the host unpack, bit for bit, for every tile shape the layout allows up to 256 columns wide and
// every mix of 2:4 and dense tiles.
TEST(DeviceLayoutCuda, UnpackOnTheDeviceEqualsTheHostUnpack) {
  SKIP_WITHOUT_HYBRID_GPU();
  std::uint64_t seed = 300;
  for (auto [tr, tc] : {std::pair<int, int>{128, 128}, {128, 64}, {64, 128}, {64, 64}, {16, 64}, {32, 256}})
    for (double share : {0.0, 0.3, 1.0}) {
      auto c = testing::random_hybrid(256, 1024, tr, tc, share, ++seed, 0.1);
      const hybrid::PackedHybrid packed = hybrid::pack(c.weight.data(), c.keep.data(), c.grid);
      const std::vector<std::uint16_t> host = hybrid::unpack(packed);
      const kernels::HybridWeight w = kernels::upload_hybrid(packed, at::Device("cuda:0"));
      const at::Tensor device = kernels::unpack_on_device(w).cpu();
      const at::Tensor want = at::from_blob(const_cast<std::uint16_t*>(host.data()), {256, 1024}, at::kBFloat16);
      EXPECT_TRUE(at::equal(device.view(at::kShort), want.view(at::kShort))) << tr << "x" << tc << " share " << share;
    }
}

// The kept positions of a 2:4 group as the format defines them (docs/format.md "Tiles"): the kept ones in ascending
// order, completed with the lowest unused positions (whose values are zeros).
std::array<int, 2> kept_positions(const std::uint8_t* keep) {
  std::array<int, 2> at{};
  int n = 0;
  for (int i = 0; i < 4 && n < 2; ++i)
    if (keep[i]) at[n++] = i;
  for (int i = 0; i < 4 && n < 2; ++i)
    if (!keep[i] && (n == 0 || at[0] != i)) at[n++] = i;
  if (at[0] > at[1]) std::swap(at[0], at[1]);
  return at;
}

// On the device, every tile is rewritten in place into the device layout (docs/format.md "On the GPU"), byte for byte:
// a dense tile's rows (the host unpack's) moved to (64-row slice, 64-column panel) blocks of 64 × 128 bytes with
// 16-byte chunk c of row r at chunk c XOR r % 8; a 2:4 tile as one part per 64 columns (tile rows × 72 bytes each): the
// part's kept pairs (from the weight and its mask) in rows of 64 bytes, blocks of 64 rows, chunk c of row r at
// c XOR (r % 8) / 2, then per 16-row slice each lane's packed metadata word of that part; every offset as packed — for
// every tile shape the kernels take and mixes of 2:4 and dense tiles.
TEST(DeviceLayoutCuda, TilesAreRewrittenIntoTheDeviceLayout) {
  SKIP_WITHOUT_HYBRID_GPU();
  std::uint64_t seed = 350;
  for (auto [tr, tc] : {std::pair<int, int>{128, 128}, {128, 64}, {64, 128}, {64, 64}})
    for (double share : {0.0, 0.5, 1.0}) {
      auto c = testing::random_hybrid(256, 512, tr, tc, share, ++seed, 0.1);
      const hybrid::PackedHybrid packed = hybrid::pack(c.weight.data(), c.keep.data(), c.grid);
      const kernels::HybridWeight w = kernels::upload_hybrid(packed, at::Device("cuda:0"));
      EXPECT_TRUE(w.device_layout);
      const std::vector<std::uint16_t> dense = hybrid::unpack(packed);
      const std::vector<std::uint16_t> masked = testing::masked(c);
      std::vector<std::uint8_t> want = packed.data;
      const std::int64_t per_row = c.grid.tiles_per_row();
      for (std::int64_t rb = 0; rb < c.grid.row_blocks(); ++rb)
        for (std::int64_t k = 0; k < per_row; ++k) {
          const std::int64_t r0 = rb * tr, c0 = std::int64_t{packed.columns[rb * per_row + k]} * tc;
          std::uint8_t* tile = want.data() + packed.tile_offset(rb, k);
          if (k >= packed.sparse_tiles[rb]) {
            for (int row = 0; row < tr; ++row)
              for (int chunk = 0; chunk < tc / 8; ++chunk) {
                const int block = row / 64 * (tc / 64) + chunk / 8, r = row % 64;
                std::memcpy(tile + block * 8192 + r * 128 + 16 * ((chunk % 8) ^ (r % 8)),
                            &dense[(r0 + row) * 512 + c0 + 8 * chunk], 16);
              }
            continue;
          }
          const std::vector<std::uint8_t> packed_tile(tile, tile + tr * tc * 9 / 8);
          for (int row = 0; row < tr; ++row)
            for (int group = 0; group < tc / 4; ++group) {
              const std::int64_t at = (r0 + row) * 512 + c0 + 4 * group;
              const std::array<int, 2> kept = kept_positions(&c.keep[at]);
              const std::uint16_t pair[2] = {masked[at + kept[0]], masked[at + kept[1]]};
              const int part = group / 16, r = row % 64, chunk = group % 16 / 4;
              std::memcpy(tile + part * tr * 72 + row / 64 * 4096 + r * 64 + 16 * (chunk ^ (r % 8 / 2)) + 4 * (group % 4),
                          pair, 4);
            }
          for (int slice = 0; slice < tr / 16; ++slice)
            for (int lane = 0; lane < 32; ++lane)
              for (int part = 0; part < tc / 64; ++part)
                std::memcpy(tile + part * tr * 72 + tr * 64 + slice * 128 + 4 * lane,
                            packed_tile.data() + slice * 18 * tc + 16 * tc + 4 * (lane * (tc / 64) + part), 4);
        }
      const at::Tensor got = w.data.cpu();
      ASSERT_EQ(got.numel(), static_cast<std::int64_t>(want.size()));
      EXPECT_TRUE(std::equal(want.begin(), want.end(), got.data_ptr<std::uint8_t>())) << tr << "x" << tc << " share " << share;
    }
}

}  // namespace
}  // namespace patchlm
