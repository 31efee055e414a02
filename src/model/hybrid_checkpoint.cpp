#include "model/hybrid_checkpoint.h"

#include "io/hybrid_file.h"
#include "util/error.h"

namespace patchlm {

void add_hybrid_file(const std::filesystem::path& file, Checkpoint& ckpt) {
  SafetensorsFile f = SafetensorsFile::open(file);
  const TileShape tile = read_hybrid_tile(f);
  ckpt.format = "hybrid";
  for (const TensorEntry& e : f.tensors()) {
    std::string base;
    if (!is_hybrid_part(e.name, &base)) {
      ckpt.tensors[e.name] = tensor_view(f, e);
      continue;
    }
    if (ckpt.hybrid.count(base)) continue;  // one of its other parts came first
    ckpt.hybrid[base] = std::make_shared<hybrid::PackedHybrid>(read_packed(f, base, tile));
  }
}

at::Tensor unpack_hybrid_weight(const hybrid::PackedHybrid& packed) {
  std::vector<std::uint16_t> bits = hybrid::unpack(packed);
  return at::from_blob(bits.data(), {packed.grid.rows, packed.grid.cols}, at::kBFloat16).clone();
}

at::Tensor Checkpoint::tensor(const std::string& name) const {
  if (auto it = tensors.find(name); it != tensors.end()) return it->second;
  if (auto it = hybrid.find(name); it != hybrid.end()) return unpack_hybrid_weight(*it->second);
  throw Error(str_cat(source.string(), ": tensor ", in_quotes(name), " is missing"));
}

void Checkpoint::unpack_hybrid() {
  for (const auto& [name, packed] : hybrid) tensors[name] = unpack_hybrid_weight(*packed);
  hybrid.clear();
}

}  // namespace patchlm
