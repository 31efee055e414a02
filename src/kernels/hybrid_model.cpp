#include "kernels/hybrid_model.h"

#include "io/mask_file.h"
#include "kernels/hybrid_linear.h"
#include "model/checkpoint.h"
#include "model/masks.h"
#include "util/error.h"
#include "util/log.h"

namespace patchlm::kernels {

ProjBuilder hybrid_proj_builder(const Checkpoint& ckpt, at::Device device, int* count) {
  if (count) *count = 0;
  return [&ckpt, device, count](const std::string& weight, std::int64_t, std::int64_t) -> std::shared_ptr<ProjStrategy> {
    auto it = ckpt.hybrid.find(weight);
    if (it == ckpt.hybrid.end() || !hybrid_kernel_unavailable(*it->second, device).empty()) return nullptr;
    if (count) ++*count;
    return std::make_shared<HybridProj>(it->second, device);
  };
}

std::unique_ptr<Decoder> load_model(const std::string& model, std::optional<at::ScalarType> dtype, at::Device device,
                                    const std::string& masks) {
  const Checkpoint ckpt = load_checkpoint(model);
  const bool hybrid = ckpt.format == "hybrid";
  if (hybrid && !masks.empty()) throw UsageError(str_cat("--masks: ", model, " is a hybrid checkpoint, already pruned"));
  const bool kernel_device = hybrid && device.is_cuda() && hybrid_kernel_unavailable(device).empty();
  const at::ScalarType type = dtype.value_or(kernel_device ? at::kBFloat16 : at::kFloat);
  if (kernel_device && type != at::kBFloat16) {
    log_warn("hybrid kernel bypassed", {{"dtype", c10::toString(type)},
                                        {"note", "the hybrid kernel computes in bf16; every packed weight is unpacked "
                                                 "to a dense one instead (use --dtype bf16 for the kernel)"}});
  }
  int packed = 0;
  auto decoder = std::make_unique<Decoder>(
      ckpt, type, device, kernel_device && type == at::kBFloat16 ? hybrid_proj_builder(ckpt, device, &packed) : ProjBuilder());
  if (!masks.empty()) apply_masks(*decoder, read_mask_file(masks), masks);
  if (packed > 0) log_info("hybrid", {{"projections", packed}, {"device", device.str()}, {"note", "on the hybrid kernel"}});
  return decoder;
}

}  // namespace patchlm::kernels
