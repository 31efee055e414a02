#include "learn/priors.h"

#include <filesystem>

#include "io/mask_file.h"
#include "model/masks.h"
#include "prune/one_shot.h"
#include "model/masks.h"
#include "util/error.h"
#include "util/log.h"

namespace patchlm {
namespace {

bool is_method(const std::string& s) { return s == "magnitude" || s == "wanda" || s == "sparsegpt"; }

std::map<std::string, at::Tensor> from_file(const std::string& file, Decoder& model) {
  MaskSet set = read_mask_file(file);
  std::map<std::string, at::Tensor> out;
  for (const Proj* p : model.projections()) out[p->name() + ".weight"] = keep_tensor(mask_for(set, *p, file)).clone();
  return out;
}

std::map<std::string, at::Tensor> from_pruner(const Checkpoint& ckpt, at::ScalarType dtype, at::Device device,
                                              const std::string& method, const SparsityPattern& pattern,
                                              std::int64_t batch, const std::function<at::Tensor()>& calibration) {
  Decoder scratch(ckpt, dtype, device);  // pruned in place, then dropped: the learner keeps the original weights
  OneShotOptions o;
  o.method = parse_prune_method(method);
  o.pattern = pattern;
  o.calibration.batch = batch;
  log_info("prior", {{"method", method}, {"pattern", pattern.name()}});
  MaskSet masks = prune_one_shot(scratch, needs_calibration(o.method) ? calibration() : at::Tensor(), o);
  std::map<std::string, at::Tensor> out;
  for (auto& [name, m] : masks.layers) out[name] = keep_tensor(m).clone();
  return out;
}

}  // namespace

MaskPriors build_priors(const Checkpoint& ckpt, Decoder& model, MaskMode mode, double target_sparsity,
                        const PriorSpec& spec, const std::function<at::Tensor()>& calibration) {
  const at::ScalarType dtype = model.dtype();
  const at::Device device = model.device();
  at::Tensor calib;
  auto calib_once = [&] {
    if (!calib.defined()) calib = calibration();
    return calib;
  };
  MaskPriors priors;
  if (spec.prior_2to4 != "none") {
    if (is_method(spec.prior_2to4)) {
      priors.keep_2to4 = from_pruner(ckpt, dtype, device, spec.prior_2to4, parse_pattern("2:4", 0.5),
                                     spec.calibration_batch, calib_once);
    } else if (std::filesystem::exists(spec.prior_2to4)) {
      priors.keep_2to4 = from_file(spec.prior_2to4, model);
    } else {
      throw UsageError(str_cat("--prior: ", in_quotes(spec.prior_2to4),
                               " is neither magnitude, wanda, sparsegpt, none nor an existing mask file"));
    }
  } else if (mode == MaskMode::tile) {
    throw UsageError("--mode tile needs a 2:4 --prior (its 2:4 patterns stay fixed)");
  }
  if (mode != MaskMode::maskllm && spec.tile_prior != "none") {
    if (spec.tile_prior == "wanda" || spec.tile_prior == "magnitude") {
      priors.keep_unstructured = from_pruner(ckpt, dtype, device, spec.tile_prior,
                                             parse_pattern("unstructured", target_sparsity), spec.calibration_batch,
                                             calib_once);
    } else if (std::filesystem::exists(spec.tile_prior)) {
      priors.keep_unstructured = from_file(spec.tile_prior, model);
    } else {
      throw UsageError(str_cat("--tile-prior: ", in_quotes(spec.tile_prior),
                               " is neither wanda, magnitude, none nor an existing mask file"));
    }
  }
  return priors;
}

}  // namespace patchlm
