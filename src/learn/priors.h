#pragma once
// Where the priors of mask learning come from: a one-shot pruner run on the fly (magnitude, wanda, sparsegpt at
// 2:4 for the 2:4 logits; Wanda unstructured at the target sparsity for the tile logits, as PATCH does), or a mask
// file made earlier (`patchlm prune`, or a MaskLLM result), or none.
#include <functional>
#include <string>

#include "learn/options.h"
#include "learn/trainer.h"
#include "model/checkpoint.h"

namespace patchlm {

struct PriorSpec {
  std::string prior_2to4 = "sparsegpt";  // magnitude | wanda | sparsegpt | none | a mask file
  std::string tile_prior = "wanda";      // wanda | magnitude | none | a mask file
  std::int64_t calibration_batch = 1;
};

// `calibration` is called (at most once) when a pruner needs calibration sequences [N, T].
// `model` is the (unpruned) model that will learn: it gives the layers, their shapes, the dtype and the device;
// on-the-fly pruners work on a scratch copy built from `checkpoint`.
MaskPriors build_priors(const Checkpoint& checkpoint, Decoder& model, MaskMode mode, double target_sparsity,
                        const PriorSpec& spec, const std::function<at::Tensor()>& calibration);

}  // namespace patchlm
