#pragma once
// Parsing helpers shared by subcommands; every failure is a UsageError naming the option and the value.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "engine/sampler.h"
#include "io/model_config.h"
#include "io/tokenizer/tokenizer.h"

namespace patchlm::cli {

// "f32" | "bf16" | "f16" (also "float32", "bfloat16", "float16").
c10::ScalarType parse_compute_dtype(const std::string& option, const std::string& value);
// The compute dtype of a model: "auto" (nullopt: bf16 for hybrid checkpoints on CUDA, else f32), "f32", "bf16".
std::optional<c10::ScalarType> parse_model_dtype(const std::string& option, const std::string& value);
// "cpu", "cuda" or "cuda:N"; a CUDA device must exist (UsageError naming the option otherwise).
c10::Device parse_device(const std::string& option, const std::string& value);
// "1,2,3" → one sequence; "1,2,3;4,5,6" → a batch of equal-length sequences.
std::vector<std::vector<std::int64_t>> parse_id_batch(const std::string& option, const std::string& value);
// UsageError naming the flag for a temperature that is negative or not finite, a negative --top-k, --top-p outside
// (0, 1] or a negative --max-new-tokens.
void validate_sampling(const GenerateOptions& options);
// Error when the tokenizer has more tokens than the model's vocabulary (a tokenizer of another model).
void check_tokenizer_fits(const Tokenizer& tokenizer, const ModelConfig& config, const std::string& source);

// "5GB", "500MB", "1024" (bytes) → bytes.
std::uint64_t parse_byte_size(const std::string& option, const std::string& value);

}  // namespace patchlm::cli
