#include "io/mask_file.h"

#include <array>
#include <cstdio>

#include "io/safetensors.h"
#include "util/error.h"

namespace patchlm {
namespace {

constexpr const char* kFormat = "patchlm-mask";
constexpr const char* kVersion = "1";

std::int64_t bytes_per_row_2to4(std::int64_t cols) { return (cols / 4 * 3 + 7) / 8; }
std::int64_t bytes_per_row_bits(std::int64_t cols) { return (cols + 7) / 8; }

}  // namespace

std::int64_t LayerMask::kept() const {
  std::int64_t n = 0;
  for (std::uint8_t k : keep) n += k != 0;
  return n;
}

double LayerMask::sparsity() const {
  return keep.empty() ? 0.0 : 1.0 - static_cast<double>(kept()) / static_cast<double>(keep.size());
}

double global_sparsity(const MaskSet& masks) {
  std::int64_t kept = 0, total = 0;
  for (const auto& [name, m] : masks.layers) {
    kept += m.kept();
    total += static_cast<std::int64_t>(m.keep.size());
  }
  return total ? 1.0 - static_cast<double>(kept) / static_cast<double>(total) : 0.0;
}

int pattern_index(const std::uint8_t* g) {
  for (int i = 0; i < 6; ++i) {
    bool same = true;
    for (int j = 0; j < 4; ++j) same = same && (g[j] != 0) == (kTwoFourPatterns[i][j] != 0);
    if (same) return i;
  }
  return -1;
}

void pattern_fill(int index, std::uint8_t* g) {
  for (int j = 0; j < 4; ++j) g[j] = kTwoFourPatterns[index][j];
}

bool is_2to4(const LayerMask& m) {
  if (m.cols % 4 != 0) return false;
  for (std::size_t i = 0; i < m.keep.size(); i += 4) {
    if (pattern_index(&m.keep[i]) < 0) return false;
  }
  return true;
}

std::vector<std::uint8_t> pack_bits(const LayerMask& m) {
  const std::int64_t bpr = bytes_per_row_bits(m.cols);
  std::vector<std::uint8_t> out(static_cast<std::size_t>(m.rows * bpr), 0);
  for (std::int64_t r = 0; r < m.rows; ++r) {
    for (std::int64_t c = 0; c < m.cols; ++c) {
      if (m.keep[r * m.cols + c]) out[r * bpr + c / 8] |= static_cast<std::uint8_t>(1u << (c % 8));
    }
  }
  return out;
}

LayerMask unpack_bits(const std::vector<std::uint8_t>& packed, std::int64_t rows, std::int64_t cols) {
  const std::int64_t bpr = bytes_per_row_bits(cols);
  if (static_cast<std::int64_t>(packed.size()) != rows * bpr) throw Error("mask: packed bits have the wrong size");
  LayerMask m{rows, cols, std::vector<std::uint8_t>(static_cast<std::size_t>(rows * cols))};
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < cols; ++c) m.keep[r * cols + c] = (packed[r * bpr + c / 8] >> (c % 8)) & 1;
  }
  return m;
}

std::vector<std::uint8_t> pack_2to4(const LayerMask& m) {
  if (!is_2to4(m)) throw Error("mask: layer is not 2:4");
  const std::int64_t bpr = bytes_per_row_2to4(m.cols), groups = m.cols / 4;
  std::vector<std::uint8_t> out(static_cast<std::size_t>(m.rows * bpr), 0);
  for (std::int64_t r = 0; r < m.rows; ++r) {
    for (std::int64_t g = 0; g < groups; ++g) {
      const auto index = static_cast<unsigned>(pattern_index(&m.keep[r * m.cols + 4 * g]));
      for (int b = 0; b < 3; ++b) {  // 3 bits per group, least significant first
        const std::int64_t bit = 3 * g + b;
        if ((index >> b) & 1) out[r * bpr + bit / 8] |= static_cast<std::uint8_t>(1u << (bit % 8));
      }
    }
  }
  return out;
}

LayerMask unpack_2to4(const std::vector<std::uint8_t>& packed, std::int64_t rows, std::int64_t cols) {
  const std::int64_t bpr = bytes_per_row_2to4(cols), groups = cols / 4;
  if (cols % 4 != 0 || static_cast<std::int64_t>(packed.size()) != rows * bpr) {
    throw Error("mask: 2:4 indices have the wrong size");
  }
  LayerMask m{rows, cols, std::vector<std::uint8_t>(static_cast<std::size_t>(rows * cols))};
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t g = 0; g < groups; ++g) {
      unsigned index = 0;
      for (int b = 0; b < 3; ++b) {
        const std::int64_t bit = 3 * g + b;
        index |= static_cast<unsigned>((packed[r * bpr + bit / 8] >> (bit % 8)) & 1) << b;
      }
      if (index >= 6) throw Error(str_cat("mask: row ", r, " group ", g, " has pattern index ", index, " (0-5 allowed)"));
      pattern_fill(static_cast<int>(index), &m.keep[r * cols + 4 * g]);
    }
  }
  return m;
}

void write_mask_file(const std::filesystem::path& path, const MaskSet& masks) {
  std::map<std::string, std::string> meta = masks.metadata;
  meta["format"] = kFormat;
  meta["version"] = kVersion;
  std::vector<std::vector<std::uint8_t>> buffers;
  buffers.reserve(masks.layers.size());
  std::vector<TensorToWrite> tensors;
  for (const auto& [name, m] : masks.layers) {
    if (static_cast<std::int64_t>(m.keep.size()) != m.rows * m.cols) throw Error(str_cat("mask ", in_quotes(name), ": size mismatch"));
    const bool nm = is_2to4(m);
    buffers.push_back(nm ? pack_2to4(m) : pack_bits(m));
    meta["encoding." + name] = nm ? "2:4" : "bits";
    meta["shape." + name] = str_cat(m.rows, ",", m.cols);
    const auto* p = reinterpret_cast<const std::byte*>(buffers.back().data());
    tensors.push_back({name, DType::U8, {static_cast<std::int64_t>(buffers.back().size())},
                       std::span<const std::byte>(p, buffers.back().size())});
  }
  write_safetensors(path, tensors, meta);
}

MaskSet read_mask_file(const std::filesystem::path& path) {
  SafetensorsFile f = SafetensorsFile::open(path);
  const auto& meta = f.header().metadata;
  auto fail = [&](const std::string& what) { return Error(str_cat(path.string(), ": ", what)); };
  if (!meta.count("format") || meta.at("format") != kFormat) throw fail("not a patchlm mask file (metadata 'format')");
  if (!meta.count("version") || meta.at("version") != kVersion) throw fail("unsupported mask file version");
  MaskSet out;
  for (const auto& [k, v] : meta) {
    if (k.rfind("encoding.", 0) != 0 && k.rfind("shape.", 0) != 0 && k != "format" && k != "version") out.metadata[k] = v;
  }
  for (const TensorEntry& e : f.tensors()) {
    const std::string enc_key = "encoding." + e.name, shape_key = "shape." + e.name;
    if (e.dtype != DType::U8 || !meta.count(enc_key) || !meta.count(shape_key)) {
      throw fail(str_cat("layer ", in_quotes(e.name), ": missing encoding/shape or not U8"));
    }
    std::int64_t rows = 0, cols = 0;
    if (std::sscanf(meta.at(shape_key).c_str(), "%ld,%ld", &rows, &cols) != 2 || rows <= 0 || cols <= 0) {
      throw fail(str_cat("layer ", in_quotes(e.name), ": bad shape ", in_quotes(meta.at(shape_key))));
    }
    auto bytes = f.data(e);
    std::vector<std::uint8_t> packed(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                     reinterpret_cast<const std::uint8_t*>(bytes.data()) + bytes.size());
    try {
      const std::string& enc = meta.at(enc_key);
      if (enc == "2:4") {
        out.layers[e.name] = unpack_2to4(packed, rows, cols);
      } else if (enc == "bits") {
        out.layers[e.name] = unpack_bits(packed, rows, cols);
      } else {
        throw Error(str_cat("unknown encoding ", in_quotes(enc)));
      }
    } catch (const Error& err) {
      throw fail(str_cat("layer ", in_quotes(e.name), ": ", err.what()));
    }
  }
  return out;
}

}  // namespace patchlm
