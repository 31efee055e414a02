#include "model/masks.h"

#include <c10/core/InferenceMode.h>

#include "util/error.h"

namespace patchlm {

at::Tensor keep_tensor(const LayerMask& m) {
  return at::from_blob(const_cast<std::uint8_t*>(m.keep.data()), {m.rows, m.cols}, at::kByte).to(at::kBool);
}

LayerMask layer_mask(const at::Tensor& keep) {
  at::Tensor k = keep.to(at::kCPU).to(at::kByte).contiguous();
  const std::uint8_t* p = k.data_ptr<std::uint8_t>();
  return {k.size(0), k.size(1), std::vector<std::uint8_t>(p, p + k.numel())};
}

at::Tensor expand_tiles(const at::Tensor& tiles, const TileShape& t) {
  const std::int64_t R = tiles.size(0), C = tiles.size(1);
  return tiles.reshape({R, 1, C, 1}).expand({R, t.rows, C, t.cols}).reshape({R * t.rows, C * t.cols});
}

const LayerMask& mask_for(const MaskSet& masks, const std::string& name, std::int64_t rows, std::int64_t cols,
                          const std::string& source) {
  auto it = masks.layers.find(name);
  if (it == masks.layers.end()) throw Error(str_cat(source, ": no mask for ", name));
  if (it->second.rows != rows || it->second.cols != cols) {
    throw Error(str_cat(source, ": ", name, " is ", it->second.rows, "x", it->second.cols, ", the model's is ", rows,
                        "x", cols, " (a mask of another model?)"));
  }
  return it->second;
}

const LayerMask& mask_for(const MaskSet& masks, const Proj& p, const std::string& source) {
  return mask_for(masks, p.name() + ".weight", p.out_features(), p.in_features(), source);
}

at::Tensor masked_weight(const at::Tensor& weight, const LayerMask& mask) {
  return weight * keep_tensor(mask).to(weight.device(), weight.scalar_type());
}

void apply_masks(Decoder& model, const MaskSet& masks, const std::string& source) {
  c10::InferenceMode inference;
  std::size_t used = 0;
  for (Proj* p : model.projections()) {
    p->set_weight(masked_weight(p->weight(), mask_for(masks, *p, source)));
    ++used;
  }
  if (used != masks.layers.size()) {
    throw Error(str_cat(source, ": has ", masks.layers.size(), " masks, the model ", used, " projections"));
  }
}

void check_masks_match(const Checkpoint& ckpt, const MaskSet& masks, const std::string& source) {
  if (masks.layers.empty()) throw Error(str_cat(source, ": holds no masks"));
  for (const auto& [name, mask] : masks.layers) {
    auto it = ckpt.tensors.find(name);
    if (it == ckpt.tensors.end()) throw Error(str_cat(source, ": ", name, " is not a tensor of the model (a mask of another model?)"));
    const at::Tensor& w = it->second;
    mask_for(masks, name, w.size(0), w.dim() > 1 ? w.size(1) : 0, source);
  }
}

void apply_masks(Checkpoint& ckpt, const MaskSet& masks, const std::string& source) {
  check_masks_match(ckpt, masks, source);
  for (const auto& [name, mask] : masks.layers) {
    at::Tensor& w = ckpt.tensors.at(name);
    w = masked_weight(w, mask);
  }
}

}  // namespace patchlm
