#include "io/hybrid_layout.h"

#include <algorithm>
#include <cstring>

#include "util/error.h"

namespace patchlm::hybrid {
namespace {

// Bytes of one 16-row slice of a tile that is `cols` wide.
std::int64_t dense_slice_bytes(std::int64_t cols) { return 32 * cols; }
std::int64_t sparse_value_bytes(std::int64_t cols) { return 16 * cols; }
std::int64_t sparse_slice_bytes(std::int64_t cols) { return 18 * cols; }  // values + 2·cols of metadata

// Where one element of a dense slice lives: lane (g, t), step s, register q, half h.
struct DenseSlot {
  int row, col;
  std::int64_t offset;
};
template <typename Fn>
void for_each_dense_slot(std::int64_t cols, Fn&& fn) {
  for (std::int64_t s = 0; s < cols / 16; ++s)
    for (int lane = 0; lane < 32; ++lane)
      for (int q = 0; q < 4; ++q)
        for (int h = 0; h < 2; ++h) {
          int g = lane / 4, t = lane % 4;
          int row = g + 8 * (q & 1);
          int col = static_cast<int>(16 * s) + 2 * t + 8 * (q >> 1) + h;
          fn(DenseSlot{row, col, ((s * 32 + lane) * 4 + q) * 4 + h * 2});
        }
}

// Where one group of 4 of a 2:4 slice lives: its two values and its metadata nibble.
struct SparseSlot {
  int row, col;                 // first column of the group, relative to the slice
  std::int64_t value_offset;    // v0 here, v1 two bytes later
  std::int64_t meta_offset;     // the 32-bit metadata word
  int meta_shift;               // the nibble's position in it
};
template <typename Fn>
void for_each_sparse_slot(std::int64_t cols, Fn&& fn) {
  const std::int64_t words_per_lane = cols / 64;
  for (std::int64_t j = 0; j < cols / 32; ++j)
    for (int lane = 0; lane < 32; ++lane)
      for (int q = 0; q < 4; ++q) {
        int g = lane / 4, t = lane % 4;
        int row = g + 8 * (q & 1);
        int group = t + 4 * (q >> 1);  // 0..7 within the 32-column step
        // The metadata of this group is held by lane (g, t') with t'/2 = j%2 (the selector) and t'%2 = group/4.
        int meta_lane = 4 * g + 2 * static_cast<int>(j % 2) + group / 4;
        std::int64_t meta_word = meta_lane * words_per_lane + j / 2;
        fn(SparseSlot{row, static_cast<int>(32 * j) + 4 * group, ((j * 32 + lane) * 4 + q) * 4,
                      sparse_value_bytes(cols) + meta_word * 4, 4 * (group % 4) + 16 * (q & 1)});
      }
}

void put16(std::uint8_t* p, std::uint16_t v) { std::memcpy(p, &v, 2); }
std::uint16_t get16(const std::uint8_t* p) {
  std::uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
std::uint32_t get32(const std::uint8_t* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
void or32(std::uint8_t* p, std::uint32_t bits) {
  std::uint32_t v = get32(p) | bits;
  std::memcpy(p, &v, 4);
}

void pack_dense_tile(const std::uint16_t* w, const std::uint8_t* keep, const TileGrid& grid, std::int64_t r0,
                     std::int64_t c0, std::uint8_t* out) {
  for (std::int64_t slice = 0; slice < grid.tile.rows / 16; ++slice) {
    std::uint8_t* base = out + slice * dense_slice_bytes(grid.tile.cols);
    for_each_dense_slot(grid.tile.cols, [&](const DenseSlot& s) {
      std::int64_t at = (r0 + 16 * slice + s.row) * grid.cols + c0 + s.col;
      put16(base + s.offset, keep[at] ? w[at] : 0);
    });
  }
}

void pack_sparse_tile(const std::uint16_t* w, const std::uint8_t* keep, const TileGrid& grid, std::int64_t r0,
                      std::int64_t c0, std::uint8_t* out) {
  for (std::int64_t slice = 0; slice < grid.tile.rows / 16; ++slice) {
    std::uint8_t* base = out + slice * sparse_slice_bytes(grid.tile.cols);
    for_each_sparse_slot(grid.tile.cols, [&](const SparseSlot& s) {
      std::int64_t at = (r0 + 16 * slice + s.row) * grid.cols + c0 + s.col;
      Group24 group = compress_group(w + at, keep + at);
      put16(base + s.value_offset, group.v0);
      put16(base + s.value_offset + 2, group.v1);
      or32(base + s.meta_offset, static_cast<std::uint32_t>(group.i0 | group.i1 << 2) << s.meta_shift);
    });
  }
}

void unpack_dense_tile(const std::uint8_t* in, const TileGrid& grid, std::int64_t r0, std::int64_t c0,
                       std::uint16_t* w) {
  for (std::int64_t slice = 0; slice < grid.tile.rows / 16; ++slice) {
    const std::uint8_t* base = in + slice * dense_slice_bytes(grid.tile.cols);
    for_each_dense_slot(grid.tile.cols, [&](const DenseSlot& s) {
      w[(r0 + 16 * slice + s.row) * grid.cols + c0 + s.col] = get16(base + s.offset);
    });
  }
}

void unpack_sparse_tile(const std::uint8_t* in, const TileGrid& grid, std::int64_t r0, std::int64_t c0,
                        std::uint16_t* w) {
  for (std::int64_t slice = 0; slice < grid.tile.rows / 16; ++slice) {
    const std::uint8_t* base = in + slice * sparse_slice_bytes(grid.tile.cols);
    for_each_sparse_slot(grid.tile.cols, [&](const SparseSlot& s) {
      unsigned nibble = (get32(base + s.meta_offset) >> s.meta_shift) & 0xF;
      std::uint16_t* group = w + (r0 + 16 * slice + s.row) * grid.cols + c0 + s.col;
      std::fill(group, group + 4, std::uint16_t{0});
      group[nibble & 3] = get16(base + s.value_offset);
      group[nibble >> 2] = get16(base + s.value_offset + 2);
    });
  }
}

}  // namespace

// Error naming `what` unless the tile is packable and divides the weight.
static void check_grid(const TileGrid& grid, const std::string& what) {
  check_packable_tile(grid.tile, what);
  if (!tiles_divide(grid.rows, grid.cols, grid.tile))
    throw Error(str_cat(what, ": weight [", grid.rows, ", ", grid.cols, "] is not divided by ", grid.tile.name(), " tiles"));
}

Group24 compress_group(const std::uint16_t* w, const std::uint8_t* keep) {
  int kept[2], n = 0;
  for (int i = 0; i < 4 && n < 2; ++i)
    if (keep[i]) kept[n++] = i;
  // Fewer than 2 kept: complete with the lowest unused positions; their stored values are zero.
  for (int i = 0; n < 2; ++i)
    if (n == 0 || kept[0] != i) kept[n++] = i;
  Group24 g;
  g.i0 = std::min(kept[0], kept[1]);
  g.i1 = std::max(kept[0], kept[1]);
  g.v0 = keep[g.i0] ? w[g.i0] : 0;
  g.v1 = keep[g.i1] ? w[g.i1] : 0;
  return g;
}

bool valid_nibble(unsigned nibble) { return (nibble & 3) < (nibble >> 2); }

std::int64_t PackedHybrid::tile_offset(std::int64_t rb, std::int64_t i) const {
  std::int64_t per_row = grid.tiles_per_row();
  std::int64_t offset = 0;
  // Row blocks differ only in how many of their tiles are 2:4, so the offset is a closed form per row block.
  for (std::int64_t b = 0; b < rb; ++b)
    offset += sparse_tiles[b] * grid.sparse_tile_bytes() + (per_row - sparse_tiles[b]) * grid.dense_tile_bytes();
  std::int64_t sparse_before = std::min<std::int64_t>(i, sparse_tiles[rb]);
  return offset + sparse_before * grid.sparse_tile_bytes() + (i - sparse_before) * grid.dense_tile_bytes();
}

std::int64_t PackedHybrid::expected_bytes() const {
  std::int64_t sparse = 0;
  for (std::int32_t s : sparse_tiles) sparse += s;
  return sparse * grid.sparse_tile_bytes() + (grid.tile_count() - sparse) * grid.dense_tile_bytes();
}

double PackedHybrid::two_four_tile_share() const {
  std::int64_t sparse = 0;
  for (std::int32_t s : sparse_tiles) sparse += s;
  return grid.tile_count() ? static_cast<double>(sparse) / static_cast<double>(grid.tile_count()) : 0.0;
}

PackedHybrid pack(const std::uint16_t* weight, const std::uint8_t* keep, const TileGrid& grid) {
  check_grid(grid, "hybrid pack");
  PackedHybrid packed;
  packed.grid = grid;
  const std::int64_t per_row = grid.tiles_per_row();
  for (std::int64_t rb = 0; rb < grid.row_blocks(); ++rb) {
    std::vector<std::int32_t> sparse, dense;
    for (std::int64_t tc = 0; tc < per_row; ++tc)
      (classify_tile(keep + rb * grid.tile.rows * grid.cols + tc * grid.tile.cols, grid.cols, grid.tile) ==
               TileKind::two_four
           ? sparse
           : dense)
          .push_back(static_cast<std::int32_t>(tc));
    packed.sparse_tiles.push_back(static_cast<std::int32_t>(sparse.size()));
    packed.columns.insert(packed.columns.end(), sparse.begin(), sparse.end());
    packed.columns.insert(packed.columns.end(), dense.begin(), dense.end());
  }
  packed.data.assign(static_cast<std::size_t>(packed.expected_bytes()), 0);
  std::uint8_t* out = packed.data.data();
  for (std::int64_t rb = 0; rb < grid.row_blocks(); ++rb) {
    for (std::int64_t i = 0; i < per_row; ++i) {
      std::int64_t r0 = rb * grid.tile.rows, c0 = packed.columns[rb * per_row + i] * grid.tile.cols;
      bool sparse = i < packed.sparse_tiles[rb];
      if (sparse) {
        pack_sparse_tile(weight, keep, grid, r0, c0, out);
        out += grid.sparse_tile_bytes();
      } else {
        pack_dense_tile(weight, keep, grid, r0, c0, out);
        out += grid.dense_tile_bytes();
      }
    }
  }
  return packed;
}

PackedHybrid concat_rows(const std::vector<const PackedHybrid*>& parts, const std::string& what) {
  if (parts.empty()) throw Error(str_cat(what, ": nothing to concatenate"));
  PackedHybrid out;
  out.grid = {0, parts[0]->grid.cols, parts[0]->grid.tile};
  for (const PackedHybrid* p : parts) {
    if (p->grid.cols != out.grid.cols || !(p->grid.tile == out.grid.tile))
      throw Error(str_cat(what, ": weights of ", p->grid.cols, " columns in ", p->grid.tile.name(), " tiles cannot be stacked on ",
                          out.grid.cols, " columns in ", out.grid.tile.name(), " tiles"));
    out.grid.rows += p->grid.rows;
    out.columns.insert(out.columns.end(), p->columns.begin(), p->columns.end());
    out.sparse_tiles.insert(out.sparse_tiles.end(), p->sparse_tiles.begin(), p->sparse_tiles.end());
    out.data.insert(out.data.end(), p->data.begin(), p->data.end());
  }
  validate(out, what);
  return out;
}

std::vector<std::uint16_t> unpack(const PackedHybrid& packed) {
  validate(packed, "hybrid unpack");
  const TileGrid& grid = packed.grid;
  std::vector<std::uint16_t> w(static_cast<std::size_t>(grid.rows * grid.cols), 0);
  const std::uint8_t* in = packed.data.data();
  const std::int64_t per_row = grid.tiles_per_row();
  for (std::int64_t rb = 0; rb < grid.row_blocks(); ++rb) {
    for (std::int64_t i = 0; i < per_row; ++i) {
      std::int64_t r0 = rb * grid.tile.rows, c0 = packed.columns[rb * per_row + i] * grid.tile.cols;
      if (i < packed.sparse_tiles[rb]) {
        unpack_sparse_tile(in, grid, r0, c0, w.data());
        in += grid.sparse_tile_bytes();
      } else {
        unpack_dense_tile(in, grid, r0, c0, w.data());
        in += grid.dense_tile_bytes();
      }
    }
  }
  return w;
}

void validate(const PackedHybrid& packed, const std::string& what) {
  const TileGrid& grid = packed.grid;
  check_grid(grid, what);
  const std::int64_t per_row = grid.tiles_per_row();
  if (static_cast<std::int64_t>(packed.sparse_tiles.size()) != grid.row_blocks())
    throw Error(str_cat(what, ": ", packed.sparse_tiles.size(), " 2:4 tile counts for ", grid.row_blocks(),
                        " row blocks"));
  if (static_cast<std::int64_t>(packed.columns.size()) != grid.tile_count())
    throw Error(str_cat(what, ": ", packed.columns.size(), " tile columns for ", grid.tile_count(), " tiles"));
  for (std::int64_t rb = 0; rb < grid.row_blocks(); ++rb) {
    std::int32_t s = packed.sparse_tiles[rb];
    if (s < 0 || s > per_row)
      throw Error(str_cat(what, ": row block ", rb, " claims ", s, " 2:4 tiles of ", per_row));
    std::vector<bool> seen(static_cast<std::size_t>(per_row), false);
    for (std::int64_t i = 0; i < per_row; ++i) {
      std::int32_t c = packed.columns[rb * per_row + i];
      if (c < 0 || c >= per_row || seen[c])
        throw Error(str_cat(what, ": row block ", rb, " has a bad or repeated tile column ", c));
      seen[c] = true;
    }
  }
  if (static_cast<std::int64_t>(packed.data.size()) != packed.expected_bytes())
    throw Error(str_cat(what, ": ", packed.data.size(), " bytes of tiles, the tile list needs ",
                        packed.expected_bytes()));
  const std::uint8_t* in = packed.data.data();
  for (std::int64_t rb = 0; rb < grid.row_blocks(); ++rb) {
    for (std::int64_t i = 0; i < packed.sparse_tiles[rb]; ++i, in += grid.sparse_tile_bytes()) {
      for (std::int64_t slice = 0; slice < grid.tile.rows / 16; ++slice) {
        const std::uint8_t* meta = in + slice * sparse_slice_bytes(grid.tile.cols) + sparse_value_bytes(grid.tile.cols);
        for (std::int64_t word = 0; word < 2 * grid.tile.cols / 4; ++word) {
          std::uint32_t v = get32(meta + word * 4);
          for (int n = 0; n < 8; ++n)
            if (!valid_nibble((v >> (4 * n)) & 0xF))
              throw Error(str_cat(what, ": row block ", rb, ", 2:4 tile ", i, ": invalid 2:4 index pair ",
                                  (v >> (4 * n)) & 0xF, " (corrupted data?)"));
        }
      }
    }
    in += (per_row - packed.sparse_tiles[rb]) * grid.dense_tile_bytes();
  }
}

}  // namespace patchlm::hybrid
