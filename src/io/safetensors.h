#pragma once
// safetensors: 8-byte little-endian header length N, N bytes of JSON header, then the tensor data.
// The reader maps the file and validates everything before use (the same rules as the reference implementation):
// header length bounded and inside the file, known dtypes, shapes of non-negative sizes whose byte count matches
// the offsets, offsets inside the data section, contiguous without gaps or overlaps, covering the data exactly.
// The writer is atomic and can shard by size with an index file that Hugging Face loaders accept.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "io/dtype.h"
#include "io/mapped_file.h"

namespace patchlm {

struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;  // byte offsets relative to the start of the data section
  std::uint64_t end = 0;

  std::int64_t numel() const;
};

struct SafetensorsHeader {
  std::vector<TensorEntry> tensors;  // in data order
  std::map<std::string, std::string> metadata;
  std::uint64_t data_offset = 0;  // 8 + header length
};

constexpr std::uint64_t kMaxSafetensorsHeader = 100'000'000;

// Parses and validates the header of a complete file image. `source` names the file in errors.
SafetensorsHeader parse_safetensors(std::span<const std::byte> file, const std::string& source);

class SafetensorsFile {
 public:
  static SafetensorsFile open(const std::filesystem::path& path);

  const SafetensorsHeader& header() const { return header_; }
  const std::vector<TensorEntry>& tensors() const { return header_.tensors; }
  const TensorEntry* find(const std::string& name) const;
  std::span<const std::byte> data(const TensorEntry& entry) const;
  const std::shared_ptr<MappedFile>& mapping() const { return file_; }
  const std::filesystem::path& path() const { return file_->path(); }

 private:
  std::shared_ptr<MappedFile> file_;
  SafetensorsHeader header_;
  std::map<std::string, std::size_t> index_;
};

struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::span<const std::byte> data;
};

// One file, written atomically. Throws Error if a tensor's byte count does not match its shape and dtype.
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// Into existing directory `dir`: `model.safetensors` when everything fits in `max_shard_bytes`, otherwise
// `model-0000i-of-0000n.safetensors` + `model.safetensors.index.json` ({"metadata": {"total_size"}, "weight_map"}).
// Tensors stay whole (a tensor larger than the limit gets a shard of its own). Returns the files written.
std::vector<std::filesystem::path> write_safetensors_sharded(const std::filesystem::path& dir,
                                                             const std::vector<TensorToWrite>& tensors,
                                                             const std::map<std::string, std::string>& metadata,
                                                             std::uint64_t max_shard_bytes);

}  // namespace patchlm
