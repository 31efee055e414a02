#include "data/token_file.h"

#include <cstring>

#include "io/safetensors.h"
#include "util/error.h"

namespace patchlm {

std::vector<std::vector<std::int64_t>> read_token_file(const std::filesystem::path& path) {
  const SafetensorsFile f = SafetensorsFile::open(path);
  const TensorEntry* e = f.find("input_ids");
  if (!e) throw Error(str_cat(path.string(), ": no tensor 'input_ids'"));
  if (e->dtype != DType::I64 || e->shape.size() != 2 || e->shape[0] < 1 || e->shape[1] < 1) {
    throw Error(str_cat(path.string(), ": 'input_ids' must be a non-empty I64 tensor [sequences, tokens]"));
  }
  const auto bytes = f.data(*e);
  const auto rows = static_cast<std::size_t>(e->shape[0]), cols = static_cast<std::size_t>(e->shape[1]);
  std::vector<std::vector<std::int64_t>> out(rows, std::vector<std::int64_t>(cols));
  for (std::size_t r = 0; r < rows; ++r) std::memcpy(out[r].data(), bytes.data() + r * cols * 8, cols * 8);
  return out;
}

}  // namespace patchlm
