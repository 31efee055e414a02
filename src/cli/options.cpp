#include "cli/options.h"

#include <cctype>
#include <cmath>
#include <sstream>

#include <ATen/Context.h>

#include "util/error.h"
#include "util/integer_text.h"

namespace patchlm::cli {

c10::ScalarType parse_compute_dtype(const std::string& option, const std::string& value) {
  if (value == "f32" || value == "float32") return c10::kFloat;
  if (value == "bf16" || value == "bfloat16") return c10::kBFloat16;
  if (value == "f16" || value == "float16") return c10::kHalf;
  throw UsageError(str_cat(option, ": unknown dtype ", in_quotes(value), " (f32, bf16 or f16)"));
}

std::optional<c10::ScalarType> parse_model_dtype(const std::string& option, const std::string& value) {
  if (value == "auto") return std::nullopt;
  const c10::ScalarType type = parse_compute_dtype(option, value);
  if (type == c10::kHalf) throw UsageError(str_cat(option, ": f16 is not a compute dtype of the model (auto, f32, bf16)"));
  return type;
}

c10::Device parse_device(const std::string& option, const std::string& value) {
  if (value == "cpu") return c10::Device(c10::kCPU);
  if (value.rfind("cuda", 0) != 0) throw UsageError(str_cat(option, ": ", in_quotes(value), " is not cpu, cuda or cuda:N"));
  c10::Device device(c10::kCUDA);
  try {
    device = c10::Device(value);
  } catch (const std::exception&) {
    throw UsageError(str_cat(option, ": ", in_quotes(value), " is not cpu, cuda or cuda:N"));
  }
  const int available = at::hasCUDA() ? static_cast<int>(at::getNumGPUs()) : 0;
  if (available == 0) throw UsageError(str_cat(option, ": ", in_quotes(value), " asked for, but no CUDA device is available"));
  if (device.has_index() && device.index() >= available) {
    throw UsageError(str_cat(option, ": ", in_quotes(value), " asked for, but only ", available, " CUDA device(s) exist"));
  }
  return device;
}

std::vector<std::vector<std::int64_t>> parse_id_batch(const std::string& option, const std::string& value) {
  std::vector<std::vector<std::int64_t>> batch;
  std::stringstream rows(value);
  std::string row;
  while (std::getline(rows, row, ';')) {
    std::vector<std::int64_t> ids;
    std::stringstream items(row);
    std::string item;
    while (std::getline(items, item, ',')) {
      std::string digits = item;  // trailing blanks are allowed, as leading ones are
      while (!digits.empty() && std::isspace(static_cast<unsigned char>(digits.back()))) digits.pop_back();
      const std::optional<long long> id = parse_integer(digits);
      if (!id || *id < 0) {
        throw UsageError(str_cat(option, ": ", in_quotes(item), " is not a token id (non-negative integer)"));
      }
      ids.push_back(*id);
    }
    if (ids.empty()) throw UsageError(str_cat(option, ": empty sequence in ", in_quotes(value)));
    if (!batch.empty() && ids.size() != batch[0].size()) {
      throw UsageError(str_cat(option, ": all sequences must have the same length (", batch[0].size(), " vs ", ids.size(), ")"));
    }
    batch.push_back(std::move(ids));
  }
  if (batch.empty()) throw UsageError(str_cat(option, ": no token ids given"));
  return batch;
}

void validate_sampling(const GenerateOptions& o) {
  if (!(std::isfinite(o.temperature) && o.temperature >= 0))
    throw UsageError(str_cat("--temperature: must be a finite number >= 0 (0 = greedy), got ", o.temperature));
  if (o.top_k < 0) throw UsageError(str_cat("--top-k: must be >= 0 (0 = all), got ", o.top_k));
  if (!(o.top_p > 0 && o.top_p <= 1)) throw UsageError(str_cat("--top-p: must be in (0, 1], got ", o.top_p));
  if (o.max_new_tokens < 0) throw UsageError(str_cat("--max-new-tokens: must be >= 0, got ", o.max_new_tokens));
}

void check_tokenizer_fits(const Tokenizer& tok, const ModelConfig& config, const std::string& source) {
  if (tok.vocab_size() > config.vocab_size)
    throw Error(str_cat(source, ": the tokenizer has ", tok.vocab_size(), " tokens, the model's vocabulary ",
                        config.vocab_size, " (a tokenizer of another model?)"));
}

std::uint64_t parse_byte_size(const std::string& option, const std::string& value) {
  std::size_t used = 0;
  double number = 0;
  try {
    number = std::stod(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string unit = value.substr(used);
  double scale = unit.empty() || unit == "B" ? 1 : unit == "KB" ? 1e3 : unit == "MB" ? 1e6 : unit == "GB" ? 1e9
               : unit == "KiB" ? 1024.0 : unit == "MiB" ? 1048576.0 : unit == "GiB" ? 1073741824.0 : -1;
  if (used == 0 || scale < 0 || !(number > 0)) {
    throw UsageError(str_cat(option, ": ", in_quotes(value), " is not a size (e.g. 5GB, 500MB, 2GiB)"));
  }
  const double bytes = number * scale;
  if (!(bytes < 1e18)) throw UsageError(str_cat(option, ": ", in_quotes(value), " is too large (at most 1 EB)"));
  return static_cast<std::uint64_t>(bytes);
}

}  // namespace patchlm::cli
