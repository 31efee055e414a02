#pragma once
// Parsing helpers shared by subcommands; every failure is a UsageError naming the option and the value.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

namespace patchlm::cli {

// "f32" | "bf16" | "f16" (also "float32", "bfloat16", "float16").
c10::ScalarType parse_compute_dtype(const std::string& option, const std::string& value);
// The compute dtype of a model: "auto" (nullopt: bf16 for hybrid checkpoints on CUDA, else f32), "f32", "bf16".
std::optional<c10::ScalarType> parse_model_dtype(const std::string& option, const std::string& value);
// "cpu", "cuda" or "cuda:N"; a CUDA device must exist (UsageError naming the option otherwise).
c10::Device parse_device(const std::string& option, const std::string& value);
// "1,2,3" → one sequence; "1,2,3;4,5,6" → a batch of equal-length sequences.
std::vector<std::vector<std::int64_t>> parse_id_batch(const std::string& option, const std::string& value);
// "5GB", "500MB", "1024" (bytes) → bytes.
std::uint64_t parse_byte_size(const std::string& option, const std::string& value);

}  // namespace patchlm::cli
