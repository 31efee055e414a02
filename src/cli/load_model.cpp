#include "cli/load_model.h"

#include "io/mask_file.h"
#include "model/checkpoint.h"
#include "model/hybrid_checkpoint.h"
#include "prune/apply_masks.h"
#include "util/error.h"
#include "util/log.h"

namespace patchlm::cli {

std::unique_ptr<Decoder> load_model(const std::string& model, at::ScalarType dtype, at::Device device,
                                    const std::string& masks) {
  const Checkpoint ckpt = load_checkpoint(model);
  if (ckpt.format == "hybrid" && !masks.empty())
    throw UsageError(str_cat("--masks: ", model, " is a hybrid checkpoint, already pruned"));
  auto decoder = std::make_unique<Decoder>(ckpt, dtype, device);
  if (!masks.empty()) apply_masks(*decoder, read_mask_file(masks), masks);
  if (int n = use_hybrid_kernels(*decoder, ckpt, device); n > 0)
    log_info("hybrid", {{"projections", n}, {"device", device.str()}, {"note", "hybrid kernel for bf16 inputs"}});
  return decoder;
}

}  // namespace patchlm::cli
