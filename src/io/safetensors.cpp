#include "io/safetensors.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_io.h"

namespace patchlm {
namespace {

using nlohmann::json;

std::uint64_t read_u64_le(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<std::uint64_t>(p[i]);
  return v;
}

// numel * element size, or nullopt on overflow.
std::optional<std::uint64_t> byte_count(const std::vector<std::int64_t>& shape, std::size_t elem) {
  std::uint64_t n = elem;
  for (std::int64_t d : shape) {
    if (d < 0) return std::nullopt;
    auto ud = static_cast<std::uint64_t>(d);
    if (ud != 0 && n > std::numeric_limits<std::uint64_t>::max() / ud) return std::nullopt;
    n *= ud;
  }
  return n;
}

TensorEntry parse_entry(const std::string& name, const json& value, const std::string& source) {
  auto fail = [&](const std::string& what) { return Error(str_cat(source, ": tensor ", in_quotes(name), ": ", what)); };
  if (!value.is_object()) throw fail("header entry is not an object");
  TensorEntry e;
  e.name = name;
  if (!value.contains("dtype") || !value["dtype"].is_string()) throw fail("missing field 'dtype'");
  auto dtype = parse_dtype(value["dtype"].get<std::string>());
  if (!dtype) throw fail(str_cat("unknown dtype ", in_quotes(value["dtype"].get<std::string>())));
  e.dtype = *dtype;
  if (!value.contains("shape") || !value["shape"].is_array()) throw fail("missing field 'shape'");
  for (const json& d : value["shape"]) {
    if (!d.is_number_unsigned()) throw fail(str_cat("shape entry ", d.dump(), " is not a non-negative integer"));
    e.shape.push_back(static_cast<std::int64_t>(std::min<std::uint64_t>(d.get<std::uint64_t>(), INT64_MAX)));
  }
  const json* offsets = value.contains("data_offsets") ? &value["data_offsets"] : nullptr;
  if (offsets == nullptr || !offsets->is_array() || offsets->size() != 2 || !(*offsets)[0].is_number_unsigned() ||
      !(*offsets)[1].is_number_unsigned()) {
    throw fail("field 'data_offsets' must be [begin, end] with non-negative integers");
  }
  e.begin = (*offsets)[0].get<std::uint64_t>();
  e.end = (*offsets)[1].get<std::uint64_t>();
  if (e.end < e.begin) throw fail(str_cat("data_offsets [", e.begin, ", ", e.end, "] end before begin"));
  auto bytes = byte_count(e.shape, dtype_size(e.dtype));
  if (!bytes || *bytes != e.end - e.begin) {
    throw fail(str_cat("shape ", value["shape"].dump(), " of ", dtype_name(e.dtype), " needs ",
                       bytes ? std::to_string(*bytes) : std::string("too many"), " bytes but data_offsets span ",
                       e.end - e.begin));
  }
  return e;
}

}  // namespace

std::int64_t TensorEntry::numel() const {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

SafetensorsHeader parse_safetensors(std::span<const std::byte> file, const std::string& source) {
  if (file.size() < 8) throw Error(str_cat(source, ": not a safetensors file (", file.size(), " bytes)"));
  std::uint64_t n = read_u64_le(file.data());
  if (n > kMaxSafetensorsHeader) {
    throw Error(str_cat(source, ": header length ", n, " exceeds the limit of ", kMaxSafetensorsHeader, " bytes"));
  }
  if (n > file.size() - 8) {
    throw Error(str_cat(source, ": header length ", n, " runs past the end of the file (", file.size(),
                        " bytes): truncated?"));
  }
  std::string text(reinterpret_cast<const char*>(file.data() + 8), n);
  json j = parse_json_text(text, source + " header");
  if (!j.is_object()) throw Error(str_cat(source, ": header is not a JSON object"));

  SafetensorsHeader h;
  h.data_offset = 8 + n;
  for (const auto& [key, value] : j.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) throw Error(str_cat(source, ": __metadata__ is not an object"));
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) throw Error(str_cat(source, ": __metadata__ value of ", in_quotes(mk), " is not a string"));
        h.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    h.tensors.push_back(parse_entry(key, value, source));
  }
  std::sort(h.tensors.begin(), h.tensors.end(), [](const TensorEntry& a, const TensorEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const std::uint64_t data_size = file.size() - h.data_offset;
  std::uint64_t expected = 0;
  for (const TensorEntry& e : h.tensors) {
    if (e.begin != expected) {
      throw Error(str_cat(source, ": tensor ", in_quotes(e.name), " starts at byte ", e.begin, " but the previous one ends at ",
                          expected, " (overlap or gap in data_offsets)"));
    }
    expected = e.end;
  }
  if (expected != data_size) {
    throw Error(str_cat(source, ": tensors cover ", expected, " bytes but the data section has ", data_size,
                        expected > data_size ? " (truncated file?)" : " (trailing bytes)"));
  }
  return h;
}

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  SafetensorsFile f;
  f.file_ = MappedFile::open(path);
  f.header_ = parse_safetensors(f.file_->bytes(), path.string());
  for (std::size_t i = 0; i < f.header_.tensors.size(); ++i) f.index_[f.header_.tensors[i].name] = i;
  return f;
}

const TensorEntry* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

std::span<const std::byte> SafetensorsFile::data(const TensorEntry& entry) const {
  return file_->bytes().subspan(header_.data_offset + entry.begin, entry.end - entry.begin);
}

namespace {

std::string build_header(const std::vector<TensorToWrite>& tensors, const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json h;
  if (!metadata.empty()) h["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    auto bytes = byte_count(t.shape, dtype_size(t.dtype));
    if (!bytes || *bytes != t.data.size()) {
      throw Error(str_cat("tensor ", in_quotes(t.name), ": ", t.data.size(), " bytes do not match its shape and dtype ",
                          dtype_name(t.dtype)));
    }
    if (h.contains(t.name)) throw Error(str_cat("tensor ", in_quotes(t.name), " appears twice"));
    h[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + *bytes}}};
    offset += *bytes;
  }
  std::string text = h.dump();
  // Pad with spaces so the data section starts 8-byte aligned (what the reference writer does).
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

}  // namespace

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::string header = build_header(tensors, metadata);
  std::byte len[8];
  std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<std::byte>((n >> (8 * i)) & 0xFF);
  AtomicFile out(path);
  out.write(len, sizeof len);
  out.write(header);
  for (const auto& t : tensors) out.write(t.data.data(), t.data.size());
  out.commit();
}

std::vector<std::filesystem::path> write_safetensors_sharded(const std::filesystem::path& dir,
                                                             const std::vector<TensorToWrite>& tensors,
                                                             const std::map<std::string, std::string>& metadata,
                                                             std::uint64_t max_shard_bytes) {
  std::vector<std::vector<TensorToWrite>> shards(1);
  std::uint64_t in_shard = 0, total = 0;
  for (const auto& t : tensors) {
    if (!shards.back().empty() && in_shard + t.data.size() > max_shard_bytes) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(t);
    in_shard += t.data.size();
    total += t.data.size();
  }
  std::vector<std::filesystem::path> written;
  if (shards.size() == 1) {
    written.push_back(dir / "model.safetensors");
    write_safetensors(written.back(), tensors, metadata);
    return written;
  }
  nlohmann::ordered_json weight_map;
  for (std::size_t i = 0; i < shards.size(); ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
    written.push_back(dir / name);
    write_safetensors(written.back(), shards[i], metadata);
    for (const auto& t : shards[i]) weight_map[t.name] = name;
  }
  nlohmann::ordered_json index;
  index["metadata"] = {{"total_size", total}};
  index["weight_map"] = weight_map;
  written.push_back(dir / "model.safetensors.index.json");
  write_json_file(written.back(), index);
  return written;
}

}  // namespace patchlm
