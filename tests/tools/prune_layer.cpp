// Test tool: prune one layer with patchlm's own pruners, so a Python test can compare against a reference.
//   prune_layer IN.safetensors OUT.safetensors METHOD PATTERN SPARSITY [BLOCK_SIZE]
// IN holds "weight" F32 [out, in], "inputs" F32 [n, in] and optionally "always_keep" U8 [out, in]. The inputs are
// fed to InputStats in chunks of 7 rows (exercising the accumulation). OUT gets "weight" F32 and "keep" U8.
#include <iostream>
#include <string>

#include "io/safetensors.h"
#include "model/checkpoint.h"
#include "prune/calibration.h"
#include "prune/magnitude.h"
#include "prune/sparsegpt.h"
#include "prune/wanda.h"
#include "util/error.h"

namespace {

at::Tensor load(const patchlm::SafetensorsFile& file, const std::string& name, at::ScalarType type) {
  const patchlm::TensorEntry* e = file.find(name);
  return e ? patchlm::tensor_view(file, *e).to(type).clone() : at::Tensor();
}

std::span<const std::byte> bytes_of(const at::Tensor& t) {
  return {static_cast<const std::byte*>(t.data_ptr()), t.nbytes()};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6 && argc != 7) {
    std::cerr << "usage: prune_layer IN.safetensors OUT.safetensors METHOD PATTERN SPARSITY [BLOCK_SIZE]\n";
    return 2;
  }
  try {
    using namespace patchlm;
    const SafetensorsFile in = SafetensorsFile::open(argv[1]);
    const at::Tensor weight = load(in, "weight", at::kFloat), inputs = load(in, "inputs", at::kFloat);
    at::Tensor always_keep = load(in, "always_keep", at::kByte);
    if (always_keep.defined()) always_keep = always_keep.to(at::kBool);
    const std::string method = argv[3];
    const SparsityPattern pattern = parse_pattern(argv[4], std::stod(argv[5]));
    InputStats stats;
    if (method == "sparsegpt") stats.gram = at::zeros({weight.size(1), weight.size(1)}, at::kFloat);
    for (std::int64_t s = 0; s < inputs.size(0); s += 7) stats.add(inputs.slice(0, s, s + 7));

    at::Tensor pruned, keep;
    if (method == "magnitude") {
      keep = magnitude_keep(weight, pattern, always_keep);
      pruned = weight * keep;
    } else if (method == "wanda") {
      keep = wanda_keep(weight, stats.sum_sq, pattern, always_keep);
      pruned = weight * keep;
    } else if (method == "sparsegpt") {
      SparseGptOptions options;
      if (argc == 7) options.block_size = std::stoll(argv[6]);
      SparseGptResult r = sparsegpt(weight, stats.hessian(), pattern, always_keep, options);
      pruned = r.weight;
      keep = r.keep;
    } else {
      throw UsageError("METHOD: magnitude, wanda or sparsegpt");
    }
    const at::Tensor keep_u8 = keep.to(at::kByte).contiguous(), out = pruned.contiguous();
    write_safetensors(argv[2], {{"weight", DType::F32, out.sizes().vec(), bytes_of(out)},
                                {"keep", DType::U8, keep_u8.sizes().vec(), bytes_of(keep_u8)}});
  } catch (const std::exception& e) {
    std::cerr << "prune_layer: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
