#pragma once
// A loaded checkpoint: the model config plus every tensor under its Hugging Face name. Reads a HF directory
// (config.json + model.safetensors, or shards listed in model.safetensors.index.json; f32/bf16/f16) or a GGUF file
// (dequantised to f32, renamed and un-permuted to HF conventions).
#include <filesystem>
#include <map>
#include <string>

#include <ATen/ATen.h>

#include "io/safetensors.h"
#include "io/hybrid_layout.h"
#include "io/model_config.h"

namespace patchlm {

struct Checkpoint {
  ModelConfig config;
  std::map<std::string, at::Tensor> tensors;  // HF names
  std::filesystem::path source;
  std::string format;  // "safetensors", "gguf" or "hybrid"
  // Hybrid checkpoints (docs/format.md): every packed weight in its packed form, by name (not in `tensors`, so no
  // dense copy exists unless a command asks for one: the GPU builds its packed projections straight from these).
  std::map<std::string, std::shared_ptr<const hybrid::PackedHybrid>> hybrid;

  bool has(const std::string& name) const { return tensors.count(name) || hybrid.count(name); }
  // A tensor by name, a packed weight unpacked (exactly: bf16, pruned weights zero). Error naming it when absent.
  at::Tensor tensor(const std::string& name) const;
  // Moves every packed weight into `tensors`, unpacked: for commands that rewrite or inspect whole checkpoints.
  void unpack_hybrid();
};

// A packed weight as the dense bf16 tensor [rows, cols] it stands for (CPU).
at::Tensor unpack_hybrid_weight(const hybrid::PackedHybrid& packed);

Checkpoint load_checkpoint(const std::filesystem::path& path);

// One safetensors tensor as an at::Tensor: a zero-copy view of the read-only mapping when aligned (it keeps the
// mapping alive; never modify it in place — clone() for a writable copy), else a copy.
at::Tensor tensor_view(const SafetensorsFile& file, const TensorEntry& entry);

// The safetensors dtype of a tensor type (Error for types safetensors cannot hold).
DType to_dtype(at::ScalarType type);

// A contiguous CPU tensor as a safetensors entry viewing its bytes (the tensor must outlive the write).
TensorToWrite tensor_to_write(const std::string& name, const at::Tensor& contiguous);

// config.json of `ckpt` and the tokenizer / generation files of its source directory, into `dir`.
void write_model_files(const Checkpoint& ckpt, const std::filesystem::path& dir);

// Writes config.json + safetensors (sharded above `max_shard_bytes`) into a new directory, atomically:
// the directory appears complete or not at all. Tensors are written in `dtype` (F32, BF16 or F16).
void save_hf_checkpoint(const Checkpoint& ckpt, const std::filesystem::path& out_dir, at::ScalarType dtype,
                        std::uint64_t max_shard_bytes);

}  // namespace patchlm
