// The device layouts of dense and 2:4 tiles (kernels/dense_tile_layout.h, sparse_tile_layout.h; docs/format.md "On the
// GPU") as invariants, without a GPU: every byte of a tile has exactly one place, a 2:4 tile's parts are contiguous
// and keep the packed size, and the 8 rows that one ldmatrix matrix (or one wgmma core matrix) reads fall in 8
// different 16-byte bank groups. tests/kernels/test_device_layout_cuda.cpp checks the bytes the GPU writes.
#include <gtest/gtest.h>

#include <set>
#include <utility>
#include <vector>

#include "kernels/dense_tile_layout.h"
#include "kernels/sparse_tile_layout.h"

namespace patchlm {
namespace {

using kernels::dense_chunk_offset;
using kernels::dense_panel_offset;
using kernels::sparse_metadata_offset;
using kernels::sparse_part_bytes;
using kernels::sparse_part_offset;
using kernels::sparse_value_offset;

const std::vector<std::pair<int, int>> kShapes = {{128, 128}, {128, 64}, {64, 128}, {64, 64}};

// 16-byte bank group of a shared-memory offset: which 16 of a 128-byte line's bytes it starts.
int bank_group(int offset) { return offset % 128 / 16; }

TEST(TileLayouts, DenseChunksFillTheTileOnceAndEightRowsSpreadOverTheBanks) {
  for (auto [height, width] : kShapes) {
    std::vector<int> owner(height * width * 2 / 16, -1);
    auto offset = [&](int row, int chunk) {
      return dense_panel_offset(row / 64, chunk / 8, width) + dense_chunk_offset(row % 64, chunk % 8);
    };
    for (int row = 0; row < height; ++row)
      for (int chunk = 0; chunk < width / 8; ++chunk) {
        const int at = offset(row, chunk);
        ASSERT_EQ(at % 16, 0);
        ASSERT_LT(at / 16, static_cast<int>(owner.size())) << height << "x" << width;
        EXPECT_EQ(owner[at / 16], -1) << height << "x" << width << " row " << row << " chunk " << chunk;
        owner[at / 16] = row * 1000 + chunk;
      }
    for (int row = 0; row < height; row += 8)
      for (int chunk = 0; chunk < width / 8; ++chunk) {
        std::set<int> banks;
        for (int r = row; r < row + 8; ++r) banks.insert(bank_group(offset(r, chunk)));
        EXPECT_EQ(banks.size(), 8u) << height << "x" << width << " rows " << row << "+8 chunk " << chunk;
      }
  }
}

TEST(TileLayouts, SparsePartsAreContiguousAndHoldEachValueAndMetadataWordOnce) {
  for (auto [height, width] : kShapes) {
    const int parts = width / 64, bytes = height * width * 9 / 8;
    EXPECT_EQ(parts * sparse_part_bytes(height), bytes) << "a 2:4 tile keeps its packed size";
    std::vector<int> used(bytes / 4, 0);
    // Kept values: width / 2 bf16 per row, in 16-byte chunks of 8; chunk c belongs to part c / 4.
    for (int row = 0; row < height; ++row)
      for (int chunk = 0; chunk < width / 16; ++chunk) {
        const int at = sparse_value_offset(row, chunk, height), part = chunk / 4;
        ASSERT_EQ(at % 16, 0);
        EXPECT_GE(at, sparse_part_offset(part, height));
        EXPECT_LE(at + 16, sparse_metadata_offset(part, 0, height)) << "values before the part's metadata";
        for (int w = 0; w < 4; ++w) ++used[at / 4 + w];
      }
    // Metadata: per part and 16-row slice, one 32-bit word per lane, inside the part.
    for (int part = 0; part < parts; ++part)
      for (int slice = 0; slice < height / 16; ++slice)
        for (int lane = 0; lane < 32; ++lane) {
          const int at = sparse_metadata_offset(part, slice, height) + 4 * lane;
          EXPECT_LT(at, sparse_part_offset(part + 1, height));
          ++used[at / 4];
        }
    for (std::size_t w = 0; w < used.size(); ++w) EXPECT_EQ(used[w], 1) << height << "x" << width << " word " << w;
  }
}

TEST(TileLayouts, SparseValuesOfEightRowsSpreadOverTheBanks) {
  // An ldmatrix matrix (decode kernel) or a wgmma core matrix (prefill kernel) reads one 16-byte chunk of 8
  // consecutive rows: with 64-byte rows and the 64-byte swizzle they fall in 8 different bank groups.
  for (auto [height, width] : kShapes)
    for (int row = 0; row < height; row += 8)
      for (int chunk = 0; chunk < width / 16; ++chunk) {
        std::set<int> banks;
        for (int r = row; r < row + 8; ++r) banks.insert(bank_group(sparse_value_offset(r, chunk, height)));
        EXPECT_EQ(banks.size(), 8u) << height << "x" << width << " rows " << row << "+8 chunk " << chunk;
      }
}

}  // namespace
}  // namespace patchlm
