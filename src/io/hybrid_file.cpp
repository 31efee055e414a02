#include "io/hybrid_file.h"

#include <cstring>

#include "util/error.h"

namespace patchlm {
namespace {

constexpr const char* kTiles = ":hybrid.tiles";
constexpr const char* kCols = ":hybrid.cols";
constexpr const char* kTwoFour = ":hybrid.two_four";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

const TensorEntry& part(const SafetensorsFile& file, const std::string& name, const char* suffix, DType dtype,
                        std::size_t dims) {
  const TensorEntry* e = file.find(name + suffix);
  if (e == nullptr) throw Error(str_cat(file.path().string(), ": ", name, " lacks its ", suffix + 1, " tensor"));
  if (e->dtype != dtype || e->shape.size() != dims)
    throw Error(str_cat(file.path().string(), ": ", name, suffix, " must be ", dtype_name(dtype), " with ", dims,
                        " dimension(s)"));
  return *e;
}

template <typename T>
std::vector<T> copy_out(const SafetensorsFile& file, const TensorEntry& e) {
  auto bytes = file.data(e);
  std::vector<T> v(bytes.size() / sizeof(T));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(T));
  return v;
}

}  // namespace

bool is_hybrid_part(const std::string& name, std::string* base) {
  for (const char* suffix : {kTiles, kCols, kTwoFour}) {
    if (ends_with(name, suffix)) {
      if (base) *base = name.substr(0, name.size() - std::strlen(suffix));
      return true;
    }
  }
  return false;
}

std::vector<TensorToWrite> hybrid_parts(const std::string& name, const hybrid::PackedHybrid& p) {
  auto bytes = [](const auto& v) {
    return std::span<const std::byte>(reinterpret_cast<const std::byte*>(v.data()), v.size() * sizeof(v[0]));
  };
  return {{name + kTiles, DType::U8, {static_cast<std::int64_t>(p.data.size())}, bytes(p.data)},
          {name + kCols, DType::I32, {p.grid.row_blocks(), p.grid.tiles_per_row()}, bytes(p.columns)},
          {name + kTwoFour, DType::I32, {p.grid.row_blocks()}, bytes(p.sparse_tiles)}};
}

std::map<std::string, std::string> hybrid_metadata(const TileShape& tile) {
  return {{"format", kHybridFormat},
          {"hybrid_layout_version", std::to_string(hybrid::kLayoutVersion)},
          {"hybrid_tile", tile.name()}};
}

TileShape read_hybrid_tile(const SafetensorsFile& file) {
  const auto& meta = file.header().metadata;
  const std::string source = file.path().string();
  auto get = [&](const char* key) {
    auto it = meta.find(key);
    if (it == meta.end()) throw Error(str_cat(source, ": not a patchlm hybrid file (no metadata ", key, ")"));
    return it->second;
  };
  if (get("format") != kHybridFormat) throw Error(str_cat(source, ": not a patchlm hybrid file"));
  if (get("hybrid_layout_version") != std::to_string(hybrid::kLayoutVersion))
    throw Error(str_cat(source, ": hybrid layout version ", get("hybrid_layout_version"), ", this patchlm reads ",
                        hybrid::kLayoutVersion));
  const std::string tile = get("hybrid_tile");
  TileShape g;
  try {
    std::size_t x = tile.find('x');
    if (x == std::string::npos) throw std::invalid_argument(tile);
    g.rows = std::stoll(tile.substr(0, x));
    g.cols = std::stoll(tile.substr(x + 1));
  } catch (const std::exception&) {
    throw Error(str_cat(source, ": bad hybrid_tile ", in_quotes(tile)));
  }
  if (g.rows < 16 || g.rows > 4096 || g.cols < 64 || g.cols > 4096)
    throw Error(str_cat(source, ": hybrid_tile ", in_quotes(tile), " is out of range (16..4096 x 64..4096)"));
  return g;
}

hybrid::PackedHybrid read_packed(const SafetensorsFile& file, const std::string& name, const TileShape& tile) {
  const TensorEntry& tiles = part(file, name, kTiles, DType::U8, 1);
  const TensorEntry& cols = part(file, name, kCols, DType::I32, 2);
  const TensorEntry& two_four = part(file, name, kTwoFour, DType::I32, 1);
  hybrid::PackedHybrid p;
  p.grid = {cols.shape[0] * tile.rows, cols.shape[1] * tile.cols, tile};
  if (two_four.shape[0] != cols.shape[0])
    throw Error(str_cat(file.path().string(), ": ", name, kTwoFour, " has ", two_four.shape[0], " row blocks, ", kCols,
                        " has ", cols.shape[0]));
  p.data = copy_out<std::uint8_t>(file, tiles);
  p.columns = copy_out<std::int32_t>(file, cols);
  p.sparse_tiles = copy_out<std::int32_t>(file, two_four);
  hybrid::validate(p, str_cat(file.path().string(), ": ", name));
  return p;
}

}  // namespace patchlm
