// The GPU-free parts of `bench gemm`: its shapes, its PATCH-like masks, its option checks and the interleaved rounds'
// order and median (the timing itself needs a GPU: test_kernels_cuda and the device runs).
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "kernels/gemm_benchmark.h"
#include "util/error.h"

namespace patchlm::kernels {
namespace {

TEST(GemmBenchmark, RoundsAlternateForwardAndBackwardTimingEveryOpOnce) {
  EXPECT_EQ(interleaved_round_order(0, 4), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(interleaved_round_order(1, 4), (std::vector<int>{3, 2, 1, 0}));
  EXPECT_EQ(interleaved_round_order(2, 4), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(interleaved_round_order(7, 1), (std::vector<int>{0}));
  EXPECT_TRUE(interleaved_round_order(0, 0).empty());
  // Over a pair of rounds every op sits at mean position (ops - 1) / 2: none is always timed first or after cuBLAS.
  for (int ops : {2, 3, 6}) {
    std::vector<int> position_sum(ops, 0);
    for (int r : {0, 1}) {
      const std::vector<int> order = interleaved_round_order(r, ops);
      for (int p = 0; p < ops; ++p) position_sum[order[p]] += p;
    }
    for (int i = 0; i < ops; ++i) EXPECT_EQ(position_sum[i], ops - 1) << ops << " ops, op " << i;
  }
}

TEST(GemmBenchmark, MedianIndexIsTheMiddleReadingAndTheUpperOneOfAnEvenCount) {
  EXPECT_EQ(median_index({5.0}), 0u);
  EXPECT_EQ(median_index({9.0, 1.0, 4.0}), 2u);
  EXPECT_EQ(median_index({3.0, 1.0}), 0u);              // upper of two: 3.0
  EXPECT_EQ(median_index({4.0, 2.0, 8.0, 6.0}), 3u);    // sorted 2 4 6 8: 6.0
  EXPECT_EQ(median_index({7.0, 7.0, 7.0}), 1u);         // ties keep their order: the middle one
  EXPECT_THROW(median_index({}), Error);
}

TEST(GemmBenchmark, RoundsOutsideOneToFiftyAreAUsageError) {
  GemmBenchOptions o;
  o.rounds = 5;
  EXPECT_NO_THROW(validate_gemm_bench(o));
  for (int bad : {0, -1, kMaxBenchRounds + 1}) {
    o.rounds = bad;
    try {
      validate_gemm_bench(o);
      ADD_FAILURE() << bad << " passed";
    } catch (const UsageError& e) {
      EXPECT_EQ(std::string(e.what()), "--rounds: " + std::to_string(bad) + " is outside 1..50");
    }
  }
}

TEST(GemmBenchmark, PatchLikeMaskHasExactlyTheShareOfTwoFourTilesAndDenseTilesElsewhere) {
  const std::int64_t rows = 512, cols = 384;  // 4 × 3 = 12 tiles
  for (double share : {0.0, 0.5, 1.0}) {
    const std::vector<std::uint8_t> keep = patch_like_mask(rows, cols, share, 7);
    int sparse_tiles = 0;
    for (std::int64_t tr = 0; tr < rows / 128; ++tr)
      for (std::int64_t tc = 0; tc < cols / 128; ++tc) {
        std::int64_t kept = 0;
        bool two_of_four = true;
        for (std::int64_t r = tr * 128; r < tr * 128 + 128; ++r)
          for (std::int64_t c = tc * 128; c < tc * 128 + 128; c += 4) {
            const int group = keep[r * cols + c] + keep[r * cols + c + 1] + keep[r * cols + c + 2] + keep[r * cols + c + 3];
            kept += group;
            two_of_four = two_of_four && group == 2;
          }
        if (kept == 128 * 128) continue;  // dense
        EXPECT_TRUE(two_of_four) << "tile " << tr << "," << tc << " is neither dense nor 2:4";
        ++sparse_tiles;
      }
    EXPECT_EQ(sparse_tiles, static_cast<int>(std::llround(share * 12))) << share;
  }
}

TEST(GemmBenchmark, ShapesParseAsOutByInMultiplesOf128) {
  const std::vector<GemmShape> shapes = parse_gemm_shapes("--shapes", "11008x4096,128x256");
  ASSERT_EQ(shapes.size(), 2u);
  EXPECT_EQ(shapes[0].rows, 11008);
  EXPECT_EQ(shapes[0].cols, 4096);
  EXPECT_EQ(shapes[1].rows, 128);
  EXPECT_EQ(shapes[1].cols, 256);
  EXPECT_THROW(parse_gemm_shapes("--shapes", "4096x100"), UsageError);
  EXPECT_THROW(parse_gemm_shapes("--shapes", ""), UsageError);
}

}  // namespace
}  // namespace patchlm::kernels
