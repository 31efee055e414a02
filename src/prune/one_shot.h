#pragma once
// One-shot pruning of a whole decoder: magnitude (no data), Wanda and SparseGPT (sequential calibration). Every
// q/k/v/o/gate/up/down projection is pruned in place — its weight replaced by the pruned (for SparseGPT also
// reconstructed) weight — and the keep-masks are returned under the weight names, ready for a mask file.
#include <map>
#include <string>

#include <ATen/ATen.h>

#include "io/mask_file.h"
#include "model/decoder.h"
#include "prune/calibration.h"
#include "prune/select.h"
#include "prune/sparsegpt.h"

namespace patchlm {

enum class PruneMethod { magnitude, wanda, sparsegpt };
PruneMethod parse_prune_method(const std::string& name);  // UsageError naming --method
const char* method_name(PruneMethod method);
bool needs_calibration(PruneMethod method);

struct OneShotOptions {
  PruneMethod method = PruneMethod::magnitude;
  SparsityPattern pattern;
  SparseGptOptions sparsegpt;
  CalibrationOptions calibration;
  // Weights that stay whatever the method says, by weight name: the dense tiles of a hybrid layout.
  std::map<std::string, at::Tensor> always_keep;
};

// calib_ids [N, T] int64: the calibration sequences (wanda, sparsegpt; Error when missing).
MaskSet prune_one_shot(Decoder& model, const at::Tensor& calib_ids, const OneShotOptions& options);

}  // namespace patchlm
