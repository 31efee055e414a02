#include "io/gguf.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "util/error.h"

namespace patchlm {
namespace {

constexpr std::uint64_t kMaxTensors = 1u << 20;
constexpr std::uint64_t kMaxKeyValues = 1u << 20;
constexpr std::uint32_t kMaxDims = 4;  // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 2;

struct TypeRow {
  std::uint32_t id;
  GgmlTypeTraits traits;
};

constexpr TypeRow kTypes[] = {
    {0, {"F32", 1, 4}},      {1, {"F16", 1, 2}},      {2, {"Q4_0", 32, 18}},   {3, {"Q4_1", 32, 20}},
    {6, {"Q5_0", 32, 22}},   {7, {"Q5_1", 32, 24}},   {8, {"Q8_0", 32, 34}},   {9, {"Q8_1", 32, 36}},
    {10, {"Q2_K", 256, 84}}, {11, {"Q3_K", 256, 110}}, {12, {"Q4_K", 256, 144}}, {13, {"Q5_K", 256, 176}},
    {14, {"Q6_K", 256, 210}}, {15, {"Q8_K", 256, 292}}, {24, {"I8", 1, 1}},     {25, {"I16", 1, 2}},
    {26, {"I32", 1, 4}},     {27, {"I64", 1, 8}},     {28, {"F64", 1, 8}},     {30, {"BF16", 1, 2}},
};

// Bounds-checked little-endian cursor over the file.
class Reader {
 public:
  Reader(std::span<const std::byte> data, const std::string& source) : data_(data), source_(source) {}

  std::uint64_t pos() const { return pos_; }
  std::uint64_t remaining() const { return data_.size() - pos_; }

  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_.data() + pos_, sizeof(T));  // GGUF is little-endian, as is every supported host
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(const char* what) {
    std::uint64_t n = read<std::uint64_t>(what);
    need(n, what);
    std::string s(reinterpret_cast<const char*>(data_.data() + pos_), n);
    pos_ += n;
    return s;
  }

  void need(std::uint64_t n, const char* what) const {
    if (n > remaining()) {
      throw Error(str_cat(source_, ": truncated while reading ", what, " at byte ", pos_, " (needs ", n,
                          " bytes, ", remaining(), " left)"));
    }
  }

  [[noreturn]] void fail(const std::string& what) const { throw Error(str_cat(source_, ": ", what)); }

 private:
  std::span<const std::byte> data_;
  const std::string& source_;
  std::uint64_t pos_ = 0;
};

// Metadata value types as stored.
enum : std::uint32_t { U8 = 0, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 };

std::uint64_t min_encoded_size(std::uint32_t type) {
  switch (type) {
    case U8: case I8: case BOOL: return 1;
    case U16: case I16: return 2;
    case U32: case I32: case F32: return 4;
    case U64: case I64: case F64: case STRING: return 8;
    case ARRAY: return 12;
    default: return 0;
  }
}

GgufValue read_value(Reader& r, std::uint32_t type, const std::string& key, int depth) {
  GgufValue v;
  auto set_u = [&](std::uint64_t x) { v.kind = GgufValue::Kind::u64; v.value = x; };
  auto set_i = [&](std::int64_t x) { v.kind = GgufValue::Kind::i64; v.value = x; };
  switch (type) {
    case U8: set_u(r.read<std::uint8_t>("a u8 value")); break;
    case I8: set_i(r.read<std::int8_t>("an i8 value")); break;
    case U16: set_u(r.read<std::uint16_t>("a u16 value")); break;
    case I16: set_i(r.read<std::int16_t>("an i16 value")); break;
    case U32: set_u(r.read<std::uint32_t>("a u32 value")); break;
    case I32: set_i(r.read<std::int32_t>("an i32 value")); break;
    case U64: set_u(r.read<std::uint64_t>("a u64 value")); break;
    case I64: set_i(r.read<std::int64_t>("an i64 value")); break;
    case F32: v.kind = GgufValue::Kind::f64; v.value = static_cast<double>(r.read<float>("an f32 value")); break;
    case F64: v.kind = GgufValue::Kind::f64; v.value = r.read<double>("an f64 value"); break;
    case BOOL: {
      auto b = r.read<std::uint8_t>("a bool value");
      if (b > 1) r.fail(str_cat("metadata ", in_quotes(key), ": bool value ", int(b), " is not 0 or 1"));
      v.kind = GgufValue::Kind::boolean;
      v.value = b == 1;
      break;
    }
    case STRING: v.kind = GgufValue::Kind::string; v.value = r.read_string("a string value"); break;
    case ARRAY: {
      if (depth >= kMaxArrayDepth) r.fail(str_cat("metadata ", in_quotes(key), ": arrays nested too deeply"));
      auto elem_type = r.read<std::uint32_t>("an array type");
      auto count = r.read<std::uint64_t>("an array length");
      std::uint64_t min_size = min_encoded_size(elem_type);
      if (min_size == 0) r.fail(str_cat("metadata ", in_quotes(key), ": unknown array element type ", elem_type));
      if (count > r.remaining() / min_size) {
        r.fail(str_cat("metadata ", in_quotes(key), ": array of ", count, " elements does not fit in the file"));
      }
      std::vector<GgufValue> items;
      items.reserve(count);
      for (std::uint64_t i = 0; i < count; ++i) items.push_back(read_value(r, elem_type, key, depth + 1));
      v.kind = GgufValue::Kind::array;
      v.value = std::move(items);
      break;
    }
    default: r.fail(str_cat("metadata ", in_quotes(key), ": unknown value type ", type));
  }
  return v;
}

GgufTensorInfo read_tensor_info(Reader& r) {
  GgufTensorInfo t;
  t.name = r.read_string("a tensor name");
  auto n_dims = r.read<std::uint32_t>("tensor dimensions");
  if (n_dims == 0 || n_dims > kMaxDims) r.fail(str_cat("tensor ", in_quotes(t.name), ": ", n_dims, " dimensions (1..4 allowed)"));
  std::uint64_t numel = 1;
  for (std::uint32_t i = 0; i < n_dims; ++i) {
    auto d = r.read<std::uint64_t>("a tensor dimension");
    if (d == 0 || d > static_cast<std::uint64_t>(INT64_MAX) || numel > static_cast<std::uint64_t>(INT64_MAX) / d) {
      r.fail(str_cat("tensor ", in_quotes(t.name), ": dimension ", d, " is zero or too large"));
    }
    numel *= d;
    t.dims.push_back(d);
  }
  auto type_id = r.read<std::uint32_t>("a tensor type");
  const GgmlTypeTraits* traits = ggml_type_traits(type_id);
  if (traits == nullptr) r.fail(str_cat("tensor ", in_quotes(t.name), ": unknown ggml type id ", type_id));
  t.type = static_cast<GgmlType>(type_id);
  if (t.dims[0] % traits->block_elems != 0) {
    r.fail(str_cat("tensor ", in_quotes(t.name), ": row length ", t.dims[0], " is not a multiple of the ", traits->name,
                   " block size ", traits->block_elems));
  }
  t.nbytes = numel / traits->block_elems * traits->block_bytes;
  t.offset = r.read<std::uint64_t>("a tensor offset");
  return t;
}

}  // namespace

const GgmlTypeTraits* ggml_type_traits(std::uint32_t type_id) {
  for (const auto& row : kTypes) {
    if (row.id == type_id) return &row.traits;
  }
  return nullptr;
}

std::int64_t GgufValue::as_int(const std::string& key) const {
  if (kind == Kind::u64) {
    auto u = std::get<std::uint64_t>(value);
    if (u > static_cast<std::uint64_t>(INT64_MAX)) throw Error(str_cat("GGUF metadata ", in_quotes(key), ": value too large"));
    return static_cast<std::int64_t>(u);
  }
  if (kind == Kind::i64) return std::get<std::int64_t>(value);
  throw Error(str_cat("GGUF metadata ", in_quotes(key), " is not an integer"));
}

double GgufValue::as_double(const std::string& key) const {
  if (kind == Kind::f64) return std::get<double>(value);
  return static_cast<double>(as_int(key));
}

const std::string& GgufValue::as_string(const std::string& key) const {
  if (kind != Kind::string) throw Error(str_cat("GGUF metadata ", in_quotes(key), " is not a string"));
  return std::get<std::string>(value);
}

const std::vector<GgufValue>& GgufValue::as_array(const std::string& key) const {
  if (kind != Kind::array) throw Error(str_cat("GGUF metadata ", in_quotes(key), " is not an array"));
  return std::get<std::vector<GgufValue>>(value);
}

std::uint64_t GgufTensorInfo::numel() const {
  std::uint64_t n = 1;
  for (auto d : dims) n *= d;
  return n;
}

std::vector<std::int64_t> GgufTensorInfo::torch_shape() const {
  return std::vector<std::int64_t>(dims.rbegin(), dims.rend());
}

const GgufValue* GgufHeader::find(const std::string& key) const {
  auto it = metadata.find(key);
  return it == metadata.end() ? nullptr : &it->second;
}

const GgufValue& GgufHeader::at(const std::string& key, const std::string& source) const {
  const GgufValue* v = find(key);
  if (v == nullptr) throw Error(str_cat(source, ": missing GGUF metadata key ", in_quotes(key)));
  return *v;
}

GgufHeader parse_gguf(std::span<const std::byte> file, const std::string& source) {
  Reader r(file, source);
  if (file.size() < 4 || std::memcmp(file.data(), "GGUF", 4) != 0) r.fail("not a GGUF file (bad magic)");
  r.read<std::uint32_t>("the magic");
  GgufHeader h;
  h.version = r.read<std::uint32_t>("the version");
  if (h.version != 2 && h.version != 3) {
    r.fail(str_cat("GGUF version ", h.version, " is not supported (2 and 3 are; big-endian files are not)"));
  }
  auto n_tensors = r.read<std::uint64_t>("the tensor count");
  auto n_kv = r.read<std::uint64_t>("the metadata count");
  if (n_tensors > kMaxTensors) r.fail(str_cat("tensor count ", n_tensors, " is implausible"));
  if (n_kv > kMaxKeyValues) r.fail(str_cat("metadata count ", n_kv, " is implausible"));
  for (std::uint64_t i = 0; i < n_kv; ++i) {
    std::string key = r.read_string("a metadata key");
    auto type = r.read<std::uint32_t>("a metadata type");
    GgufValue value = read_value(r, type, key, 0);
    if (!h.metadata.emplace(key, std::move(value)).second) r.fail(str_cat("metadata key ", in_quotes(key), " appears twice"));
  }
  if (const GgufValue* a = h.find("general.alignment")) {
    std::int64_t align = a->as_int("general.alignment");
    if (align <= 0 || (align & (align - 1)) != 0 || align > (1 << 20)) {
      r.fail(str_cat("general.alignment ", align, " is not a power of two"));
    }
    h.alignment = static_cast<std::uint64_t>(align);
  }
  for (std::uint64_t i = 0; i < n_tensors; ++i) h.tensors.push_back(read_tensor_info(r));
  h.data_offset = (r.pos() + h.alignment - 1) / h.alignment * h.alignment;
  if (h.data_offset > file.size()) r.fail("truncated before the tensor data");
  const std::uint64_t data_size = file.size() - h.data_offset;

  std::vector<const GgufTensorInfo*> by_offset;
  for (const auto& t : h.tensors) {
    if (t.offset % h.alignment != 0) r.fail(str_cat("tensor ", in_quotes(t.name), ": offset ", t.offset, " is not aligned"));
    if (t.offset > data_size || t.nbytes > data_size - t.offset) {
      r.fail(str_cat("tensor ", in_quotes(t.name), ": data [", t.offset, ", ", t.offset + t.nbytes,
                     ") lies outside the data section of ", data_size, " bytes (truncated file?)"));
    }
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i - 1]->offset + by_offset[i - 1]->nbytes > by_offset[i]->offset) {
      r.fail(str_cat("tensors ", in_quotes(by_offset[i - 1]->name), " and ", in_quotes(by_offset[i]->name), " overlap"));
    }
  }
  return h;
}

GgufFile GgufFile::open(const std::filesystem::path& path) {
  GgufFile f;
  f.file_ = MappedFile::open(path);
  f.header_ = parse_gguf(f.file_->bytes(), path.string());
  for (std::size_t i = 0; i < f.header_.tensors.size(); ++i) {
    if (!f.index_.emplace(f.header_.tensors[i].name, i).second) {
      throw Error(str_cat(path.string(), ": tensor ", in_quotes(f.header_.tensors[i].name), " appears twice"));
    }
  }
  return f;
}

const GgufTensorInfo* GgufFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

std::span<const std::byte> GgufFile::data(const GgufTensorInfo& t) const {
  return file_->bytes().subspan(header_.data_offset + t.offset, t.nbytes);
}

}  // namespace patchlm
