#include "prune/one_shot.h"

#include <c10/core/InferenceMode.h>

#include "prune/magnitude.h"
#include "model/masks.h"
#include "prune/wanda.h"
#include "util/error.h"

namespace patchlm {
namespace {

std::string weight_name(const Proj& p) { return p.name() + ".weight"; }

at::Tensor forced_for(const OneShotOptions& o, const Proj& p) {
  auto it = o.always_keep.find(weight_name(p));
  return it == o.always_keep.end() ? at::Tensor() : it->second;
}

// Installs the pruned weight (zeros where not kept) and records the mask.
void commit(Proj& p, const at::Tensor& weight, const at::Tensor& keep, MaskSet& masks) {
  p.set_weight(weight.mul(keep).to(p.weight().scalar_type()));
  masks.layers[weight_name(p)] = layer_mask(keep);
}

void prune_group(const ObservedGroup& g, const OneShotOptions& o, MaskSet& masks) {
  for (Proj* p : g.members) {
    const at::Tensor forced = forced_for(o, *p);
    if (o.method == PruneMethod::wanda) {
      commit(*p, p->weight(), wanda_keep(p->weight(), g.stats->sum_sq, o.pattern, forced), masks);
    } else {
      SparseGptResult r = sparsegpt(p->weight(), g.stats->hessian(), o.pattern, forced, o.sparsegpt);
      commit(*p, r.weight, r.keep, masks);
    }
  }
}

}  // namespace

PruneMethod parse_prune_method(const std::string& name) {
  if (name == "magnitude") return PruneMethod::magnitude;
  if (name == "wanda") return PruneMethod::wanda;
  if (name == "sparsegpt") return PruneMethod::sparsegpt;
  throw UsageError(str_cat("--method: ", in_quotes(name), " is not one of magnitude, wanda, sparsegpt"));
}

const char* method_name(PruneMethod m) {
  switch (m) {
    case PruneMethod::magnitude: return "magnitude";
    case PruneMethod::wanda: return "wanda";
    case PruneMethod::sparsegpt: return "sparsegpt";
  }
  return "?";
}

bool needs_calibration(PruneMethod m) { return m != PruneMethod::magnitude; }

MaskSet prune_one_shot(Decoder& model, const at::Tensor& calib_ids, const OneShotOptions& o) {
  c10::InferenceMode inference;
  MaskSet masks;
  for (auto& [name, keep] : o.always_keep) {
    if (keep.scalar_type() != at::kBool || keep.dim() != 2) throw Error(str_cat(name, ": dense layout must be 2-D bool"));
  }
  if (!needs_calibration(o.method)) {
    for (Proj* p : model.projections()) commit(*p, p->weight(), magnitude_keep(p->weight(), o.pattern, forced_for(o, *p)), masks);
    return masks;
  }
  if (!calib_ids.defined() || calib_ids.dim() != 2 || calib_ids.size(0) < 1) {
    throw Error(str_cat(method_name(o.method), " needs calibration sequences [N, T]"));
  }
  CalibrationOptions calibration = o.calibration;
  calibration.gram = o.method == PruneMethod::sparsegpt;
  calibrate_sequentially(model, calib_ids, calibration, [&](std::size_t, const std::vector<ObservedGroup>& groups) {
    for (const ObservedGroup& g : groups) prune_group(g, o, masks);
  });
  return masks;
}

}  // namespace patchlm
