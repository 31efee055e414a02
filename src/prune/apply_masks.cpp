#include "prune/apply_masks.h"

#include <c10/core/InferenceMode.h>

#include "prune/tile_map.h"
#include "util/error.h"

namespace patchlm {

const LayerMask& mask_for(const MaskSet& masks, const Proj& p, const std::string& source) {
  const std::string name = p.name() + ".weight";
  auto it = masks.layers.find(name);
  if (it == masks.layers.end()) throw Error(str_cat(source, ": no mask for ", name));
  if (it->second.rows != p.out_features() || it->second.cols != p.in_features()) {
    throw Error(str_cat(source, ": ", name, " is ", it->second.rows, "x", it->second.cols, ", the model's is ",
                        p.out_features(), "x", p.in_features(), " (a mask of another model?)"));
  }
  return it->second;
}

void apply_masks(Decoder& model, const MaskSet& masks, const std::string& source) {
  c10::InferenceMode inference;
  std::size_t used = 0;
  for (Proj* p : model.projections()) {
    const at::Tensor keep = keep_tensor(mask_for(masks, *p, source)).to(p->weight().device());
    p->set_weight(p->weight() * keep.to(p->weight().scalar_type()));
    ++used;
  }
  if (used != masks.layers.size()) {
    throw Error(str_cat(source, ": has ", masks.layers.size(), " masks, the model ", used, " projections"));
  }
}

}  // namespace patchlm
