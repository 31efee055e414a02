#include "export/hf_export.h"

#include "prune/tile_map.h"
#include "util/error.h"

namespace patchlm {

void check_masks_match(const Checkpoint& ckpt, const MaskSet& masks, const std::string& source) {
  if (masks.layers.empty()) throw Error(str_cat(source, ": holds no masks"));
  for (const auto& [name, mask] : masks.layers) {
    auto it = ckpt.tensors.find(name);
    if (it == ckpt.tensors.end()) throw Error(str_cat(source, ": ", name, " is not a tensor of the model (a mask of another model?)"));
    const at::Tensor& w = it->second;
    if (w.dim() != 2 || w.size(0) != mask.rows || w.size(1) != mask.cols) {
      throw Error(str_cat(source, ": ", name, " is ", mask.rows, "x", mask.cols, ", the model's is ", w.size(0), "x",
                          w.dim() > 1 ? w.size(1) : 0, " (a mask of another model?)"));
    }
  }
}

void apply_masks_to_checkpoint(Checkpoint& ckpt, const MaskSet& masks, const std::string& source) {
  check_masks_match(ckpt, masks, source);
  for (const auto& [name, mask] : masks.layers) {
    at::Tensor& w = ckpt.tensors.at(name);
    w = w.to(at::kFloat) * keep_tensor(mask);
  }
}

}  // namespace patchlm
