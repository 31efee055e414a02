#pragma once
// GGUF (llama.cpp's model file), versions 2 and 3, little-endian: header, typed metadata key/values, tensor
// infos, aligned tensor data. The parser validates every count, length and offset against the file before use and
// is torch-free (fuzzed). Dequantisation lives in io/dequant.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "io/mapped_file.h"

namespace patchlm {

// ggml tensor types (ids as stored in the file).
enum class GgmlType : std::uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, BF16 = 30,
};

struct GgmlTypeTraits {
  const char* name;
  std::uint32_t block_elems;  // elements per block
  std::uint32_t block_bytes;  // bytes per block
};
// nullptr for ids this reader does not know.
const GgmlTypeTraits* ggml_type_traits(std::uint32_t type_id);

// A metadata value. Arrays hold values of one element type.
struct GgufValue {
  enum class Kind { u64, i64, f64, boolean, string, array } kind = Kind::u64;
  std::variant<std::uint64_t, std::int64_t, double, bool, std::string, std::vector<GgufValue>> value;

  std::int64_t as_int(const std::string& key) const;      // any integer kind in range
  double as_double(const std::string& key) const;         // float or integer kinds
  const std::string& as_string(const std::string& key) const;
  const std::vector<GgufValue>& as_array(const std::string& key) const;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<std::uint64_t> dims;  // ggml order: dims[0] is the innermost (contiguous) dimension
  GgmlType type = GgmlType::F32;
  std::uint64_t offset = 0;  // relative to the data section
  std::uint64_t nbytes = 0;

  std::uint64_t numel() const;
  // PyTorch/HF order: reversed dims.
  std::vector<std::int64_t> torch_shape() const;
};

struct GgufHeader {
  std::uint32_t version = 0;
  std::map<std::string, GgufValue> metadata;
  std::vector<GgufTensorInfo> tensors;  // in file order
  std::uint64_t alignment = 32;
  std::uint64_t data_offset = 0;

  const GgufValue* find(const std::string& key) const;
  const GgufValue& at(const std::string& key, const std::string& source) const;  // Error naming key if missing
};

GgufHeader parse_gguf(std::span<const std::byte> file, const std::string& source);

class GgufFile {
 public:
  static GgufFile open(const std::filesystem::path& path);
  const GgufHeader& header() const { return header_; }
  const GgufTensorInfo* find(const std::string& name) const;
  std::span<const std::byte> data(const GgufTensorInfo& t) const;
  const std::filesystem::path& path() const { return file_->path(); }

 private:
  std::shared_ptr<MappedFile> file_;
  GgufHeader header_;
  std::map<std::string, std::size_t> index_;
};

}  // namespace patchlm
