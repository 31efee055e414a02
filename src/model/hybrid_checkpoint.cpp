#include "model/hybrid_checkpoint.h"

#include "io/hybrid_file.h"
#include "kernels/hybrid_linear.h"
#include "util/error.h"

namespace patchlm {

void add_hybrid_file(const std::filesystem::path& file, Checkpoint& ckpt) {
  SafetensorsFile f = SafetensorsFile::open(file);
  const hybrid::TileGrid tile = read_hybrid_tile(f);
  ckpt.format = "hybrid";
  for (const TensorEntry& e : f.tensors()) {
    std::string base;
    if (!is_hybrid_part(e.name, &base)) {
      ckpt.tensors[e.name] = tensor_view(f, e);
      continue;
    }
    if (ckpt.hybrid.count(base)) continue;  // one of its other parts came first
    auto packed = std::make_shared<hybrid::PackedHybrid>(read_packed(f, base, tile));
    ckpt.tensors[base] = kernels::unpack_dense(*packed);
    ckpt.hybrid[base] = std::move(packed);
  }
}

int use_hybrid_kernels(Decoder& model, const Checkpoint& ckpt, at::Device device) {
  if (ckpt.hybrid.empty() || !kernels::hybrid_kernel_unavailable(device).empty()) return 0;
  int used = 0;
  for (Proj* p : model.projections()) {
    auto it = ckpt.hybrid.find(p->name() + ".weight");
    if (it == ckpt.hybrid.end()) continue;
    auto strategy = std::make_shared<kernels::HybridProj>(it->second, device);
    if (!strategy->uses_kernel()) continue;  // no kernel for this tile shape: the dense weight stays
    p->set_strategy(strategy);
    p->release_dense_weight();  // the packed copy on the device is the weight now
    ++used;
  }
  return used;
}

}  // namespace patchlm
