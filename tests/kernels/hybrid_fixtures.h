#pragma once
// Random pruned weights for the hybrid layout and kernel tests: each tile is 2:4 with probability `two_four_tile_share`
// (every group keeps one of the 6 patterns, or with probability `degenerate` fewer than 2) or dense (all kept).
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "io/mask_file.h"
#include "io/hybrid_layout.h"

namespace patchlm::testing {

inline std::uint16_t to_bf16_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7FFF + ((u >> 16) & 1);  // round to nearest even
  return static_cast<std::uint16_t>(u >> 16);
}

inline float from_bf16_bits(std::uint16_t b) {
  std::uint32_t u = static_cast<std::uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

struct HybridCase {
  TileGrid grid;
  std::vector<std::uint16_t> weight;  // bf16 bits
  std::vector<std::uint8_t> keep;
  std::vector<std::uint8_t> tile_sparse;  // [row_blocks][tiles_per_row], as drawn
};

inline HybridCase random_hybrid(std::int64_t rows, std::int64_t cols, std::int64_t tile_rows, std::int64_t tile_cols,
                                double two_four_tile_share, std::uint64_t seed, double degenerate = 0.0) {
  HybridCase c;
  c.grid = {rows, cols, {tile_rows, tile_cols}};
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  c.weight.resize(static_cast<std::size_t>(rows * cols));
  for (auto& w : c.weight) w = to_bf16_bits(normal(rng));
  c.keep.assign(c.weight.size(), 1);
  for (std::int64_t rb = 0; rb < rows / tile_rows; ++rb)
    for (std::int64_t tc = 0; tc < cols / tile_cols; ++tc) {
      bool sparse = uniform(rng) < two_four_tile_share;
      c.tile_sparse.push_back(sparse);
      if (!sparse) continue;
      for (std::int64_t r = rb * tile_rows; r < (rb + 1) * tile_rows; ++r)
        for (std::int64_t col = tc * tile_cols; col < (tc + 1) * tile_cols; col += 4) {
          std::uint8_t* g = &c.keep[r * cols + col];
          pattern_fill(static_cast<int>(rng() % 6), g);
          if (uniform(rng) < degenerate) {  // keep 1 or 0 of the group
            g[rng() % 4] = 0;
            if (rng() & 1) std::memset(g, 0, 4);
          }
        }
    }
  return c;
}

// W ⊙ M as bf16 bits (pruned = +0).
inline std::vector<std::uint16_t> masked(const HybridCase& c) {
  std::vector<std::uint16_t> w(c.weight.size());
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = c.keep[i] ? c.weight[i] : 0;
  return w;
}

}  // namespace patchlm::testing
