#include "model/checkpoint.h"

#include <set>

#include "io/dequant.h"
#include "io/gguf.h"
#include "io/hybrid_file.h"
#include "io/safetensors.h"
#include "io/tokenizer/gguf_vocab.h"
#include "model/gguf_mapping.h"
#include "model/hybrid_checkpoint.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json_io.h"
#include "util/log.h"

namespace patchlm {
namespace fs = std::filesystem;

namespace {

at::ScalarType to_scalar_type(DType d, const std::string& where) {
  switch (d) {
    case DType::F64: return at::kDouble;
    case DType::F32: return at::kFloat;
    case DType::F16: return at::kHalf;
    case DType::BF16: return at::kBFloat16;
    case DType::I64: return at::kLong;
    case DType::I32: return at::kInt;
    case DType::I16: return at::kShort;
    case DType::I8: return at::kChar;
    case DType::U8: return at::kByte;
    case DType::BOOL: return at::kBool;
  }
  throw Error(str_cat(where, ": unsupported dtype"));
}

void add_safetensors(const fs::path& path, std::map<std::string, at::Tensor>& out) {
  SafetensorsFile file = SafetensorsFile::open(path);
  for (const TensorEntry& e : file.tensors()) {
    if (!out.emplace(e.name, tensor_view(file, e)).second) {
      throw Error(str_cat(path.string(), ": tensor ", in_quotes(e.name), " is also in another shard"));
    }
  }
}

Checkpoint load_hf_directory(const fs::path& dir) {
  Checkpoint c;
  c.source = dir;
  c.format = "safetensors";
  const fs::path config_path = dir / "config.json";
  if (!fs::exists(config_path)) throw Error(str_cat(in_quotes(dir.string()), " has no config.json: not a Hugging Face model directory"));
  c.config = parse_hf_config(read_json_file(config_path), config_path.string());
  const fs::path index_path = dir / "model.safetensors.index.json";
  if (fs::exists(dir / kHybridFileName)) {
    add_hybrid_file(dir / kHybridFileName, c);
  } else if (fs::exists(index_path)) {
    nlohmann::json index = read_json_file(index_path);
    if (!index.contains("weight_map") || !index["weight_map"].is_object()) {
      throw Error(str_cat(index_path.string(), ": missing field 'weight_map'"));
    }
    std::set<std::string> shards;
    for (const auto& [name, shard] : index["weight_map"].items()) {
      if (!shard.is_string()) throw Error(str_cat(index_path.string(), ": weight_map[", in_quotes(name), "] is not a file name"));
      std::string s = shard.get<std::string>();
      if (s.find('/') != std::string::npos || s == ".." ) throw Error(str_cat(index_path.string(), ": shard name ", in_quotes(s), " must be a plain file name"));
      shards.insert(s);
    }
    for (const std::string& s : shards) {
      if (!fs::exists(dir / s)) throw Error(str_cat(index_path.string(), ": shard ", in_quotes(s), " is missing"));
      add_safetensors(dir / s, c.tensors);
    }
    for (const auto& [name, shard] : index["weight_map"].items()) {
      if (!c.tensors.count(name)) {
        throw Error(str_cat(index_path.string(), ": tensor ", in_quotes(name), " is not in shard ", in_quotes(shard.get<std::string>())));
      }
    }
  } else if (fs::exists(dir / "model.safetensors")) {
    add_safetensors(dir / "model.safetensors", c.tensors);
  } else {
    throw Error(str_cat(in_quotes(dir.string()), " has neither model.safetensors nor model.safetensors.index.json"));
  }
  return c;
}

Checkpoint load_gguf(const fs::path& path) {
  GgufFile file = GgufFile::open(path);
  Checkpoint c;
  c.source = path;
  c.format = "gguf";
  c.config = config_from_gguf(file.header(), path.string());
  for (const GgufTensorInfo& info : file.header().tensors) {
    std::optional<std::string> hf = hf_name_for_gguf(c.config.family, info.name);
    if (!hf) {
      log_debug("skipping GGUF tensor without a Hugging Face counterpart", {{"tensor", info.name}});
      continue;
    }
    if (!dequant_supported(info.type)) {
      throw Error(str_cat(path.string(), ": tensor ", in_quotes(info.name), " has type ",
                          ggml_type_traits(static_cast<std::uint32_t>(info.type))->name, ", which cannot be dequantised"));
    }
    at::Tensor t = at::empty(info.torch_shape(), at::kFloat);
    dequantize(info.type, file.data(info), std::span<float>(t.data_ptr<float>(), static_cast<std::size_t>(t.numel())));
    c.tensors[*hf] = gguf_to_hf_layout(c.config, *hf, t);
  }
  return c;
}

}  // namespace

at::Tensor tensor_view(const SafetensorsFile& file, const TensorEntry& e) {
  auto bytes = file.data(e);
  auto type = to_scalar_type(e.dtype, file.path().string());
  auto options = at::TensorOptions().dtype(type);
  auto addr = reinterpret_cast<std::uintptr_t>(bytes.data());
  if (addr % dtype_size(e.dtype) != 0) {
    at::Tensor t = at::empty(e.shape, options);
    std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
    return t;
  }
  std::shared_ptr<MappedFile> keep = file.mapping();
  return at::from_blob(const_cast<std::byte*>(bytes.data()), e.shape, [keep](void*) {}, options);
}


DType to_dtype(at::ScalarType s) {
  switch (s) {
    case at::kFloat: return DType::F32;
    case at::kBFloat16: return DType::BF16;
    case at::kHalf: return DType::F16;
    case at::kLong: return DType::I64;
    case at::kInt: return DType::I32;
    case at::kByte: return DType::U8;
    case at::kBool: return DType::BOOL;
    default: throw Error(str_cat("cannot store tensors of type ", c10::toString(s), " in safetensors"));
  }
}

TensorToWrite tensor_to_write(const std::string& name, const at::Tensor& t) {
  const auto* p = static_cast<const std::byte*>(t.data_ptr());
  return {name, to_dtype(t.scalar_type()), t.sizes().vec(), std::span<const std::byte>(p, t.nbytes())};
}

Checkpoint load_checkpoint(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return load_hf_directory(path);
  if (!fs::exists(path, ec)) throw Error(str_cat("model ", in_quotes(path.string()), " does not exist"));
  if (path.extension() == ".gguf") return load_gguf(path);
  if (path.extension() == ".safetensors") {
    throw Error(str_cat(in_quotes(path.string()), ": pass the model directory (with config.json), not a single .safetensors file"));
  }
  throw Error(str_cat(in_quotes(path.string()), " is neither a Hugging Face model directory nor a .gguf file"));
}

void save_hf_checkpoint(const Checkpoint& ckpt, const fs::path& out_dir, at::ScalarType dtype,
                        std::uint64_t max_shard_bytes) {
  AtomicDirectory dir(out_dir);
  std::vector<at::Tensor> keep;
  std::vector<TensorToWrite> tensors;
  std::map<std::string, at::Tensor> all = ckpt.tensors;
  for (const auto& [name, packed] : ckpt.hybrid) all.emplace(name, unpack_hybrid_weight(*packed));
  for (const auto& [name, t] : all) {
    keep.push_back(t.is_floating_point() ? t.to(dtype).contiguous() : t.contiguous());
    tensors.push_back(tensor_to_write(name, keep.back()));
  }
  write_safetensors_sharded(dir.path(), tensors, {{"format", "pt"}}, max_shard_bytes);
  write_model_files(ckpt, dir.path());
  dir.commit();
}

void write_model_files(const Checkpoint& ckpt, const fs::path& dir) {
  write_json_file(dir / "config.json", ckpt.config.to_hf_json());
  // A HF source directory's tokenizer and generation files travel along unchanged.
  if (fs::is_directory(ckpt.source)) {
    for (const char* name : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                             "generation_config.json", "tokenizer.model", "chat_template.jinja"}) {
      if (fs::exists(ckpt.source / name)) fs::copy_file(ckpt.source / name, dir / name);
    }
    return;
  }
  // A GGUF source carries its tokenizer as metadata: written out as the files transformers' AutoTokenizer reads.
  if (ckpt.format == "gguf") {
    const GgufFile file = GgufFile::open(ckpt.source);
    try {
      nlohmann::json tokenizer = tokenizer_json_from_gguf(file.header(), ckpt.source.string());
      write_file_atomic(dir / "tokenizer.json", tokenizer.dump());
      write_json_file(dir / "tokenizer_config.json", tokenizer_config_from_gguf(file.header(), ckpt.source.string()));
    } catch (const Error& e) {
      log_warn("no tokenizer files written", {{"reason", e.what()}});
    }
  }
}

}  // namespace patchlm
