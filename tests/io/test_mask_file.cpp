#include "io/mask_file.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "io/safetensors.h"
#include "temp_dir.h"
#include "util/error.h"

namespace patchlm {
namespace {

using testing::TempDir;

LayerMask random_mask(std::int64_t rows, std::int64_t cols, bool two_four, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  LayerMask m{rows, cols, std::vector<std::uint8_t>(static_cast<std::size_t>(rows * cols))};
  for (std::size_t i = 0; i < m.keep.size(); i += 4) {
    if (two_four) {
      pattern_fill(static_cast<int>(rng() % 6), &m.keep[i]);
    } else {
      for (std::size_t j = i; j < std::min(i + 4, m.keep.size()); ++j) m.keep[j] = rng() & 1;
    }
  }
  return m;
}

TEST(MaskFile, AllSixPatternsRoundTripInPatchOrder) {
  const std::uint8_t expected[6][4] = {{1, 1, 0, 0}, {1, 0, 1, 0}, {1, 0, 0, 1}, {0, 1, 1, 0}, {0, 1, 0, 1}, {0, 0, 1, 1}};
  for (int i = 0; i < 6; ++i) {
    std::uint8_t g[4];
    pattern_fill(i, g);
    EXPECT_EQ(0, std::memcmp(g, expected[i], 4)) << i;
    EXPECT_EQ(pattern_index(g), i);
  }
  const std::uint8_t degenerate[][4] = {{0, 0, 0, 0}, {1, 0, 0, 0}, {1, 1, 1, 0}, {1, 1, 1, 1}};
  for (const auto& g : degenerate) EXPECT_EQ(pattern_index(g), -1);
}

TEST(MaskFile, TwoFourLayersUse3BitsPerGroupOthersUseBits) {
  LayerMask nm = random_mask(8, 64, true, 1);
  ASSERT_TRUE(is_2to4(nm));
  EXPECT_EQ(pack_2to4(nm).size(), 8u * (64 / 4 * 3 / 8));
  EXPECT_EQ(unpack_2to4(pack_2to4(nm), 8, 64).keep, nm.keep);
  LayerMask un = random_mask(5, 37, false, 2);
  EXPECT_FALSE(is_2to4(un));
  EXPECT_EQ(unpack_bits(pack_bits(un), 5, 37).keep, un.keep);
  EXPECT_THROW(pack_2to4(un), Error);
}

TEST(MaskFile, FileRoundTripKeepsEveryLayerAndMetadata) {
  TempDir dir;
  MaskSet set;
  set.layers["model.layers.0.mlp.up_proj.weight"] = random_mask(16, 128, true, 3);
  set.layers["model.layers.0.self_attn.q_proj.weight"] = random_mask(12, 36, false, 4);
  set.metadata["method"] = "magnitude";
  write_mask_file(dir / "m.safetensors", set);
  MaskSet back = read_mask_file(dir / "m.safetensors");
  EXPECT_EQ(back.metadata.at("method"), "magnitude");
  ASSERT_EQ(back.layers.size(), 2u);
  for (const auto& [name, m] : set.layers) {
    EXPECT_EQ(back.layers.at(name).keep, m.keep) << name;
    EXPECT_EQ(back.layers.at(name).rows, m.rows);
  }
  EXPECT_NEAR(back.layers.begin()->second.sparsity(), 0.5, 1e-12);  // the 2:4 layer
}

TEST(MaskFile, RejectsOtherFilesAndInvalidIndices) {
  TempDir dir;
  std::vector<std::uint8_t> bytes(3, 0xFF);  // group indices 7: invalid
  write_safetensors(dir / "x.safetensors",
                    {{"w", DType::U8, {3}, std::as_bytes(std::span(bytes))}},
                    {{"format", "patchlm-mask"}, {"version", "1"}, {"encoding.w", "2:4"}, {"shape.w", "1,8"}});
  EXPECT_THROW(read_mask_file(dir / "x.safetensors"), Error);
  write_safetensors(dir / "y.safetensors", {{"w", DType::U8, {3}, std::as_bytes(std::span(bytes))}}, {});
  try {
    read_mask_file(dir / "y.safetensors");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a patchlm mask file"), std::string::npos);
  }
}

}  // namespace
}  // namespace patchlm
