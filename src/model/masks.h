#pragma once
// Masks meet weights: a mask file's layers as tensors and back, and applying them — every masked weight becomes
// W ⊙ keep, in a Decoder or in a checkpoint's tensors alike. A mask must name a weight of the model and have its
// shape (Error naming the mask's source and the layer otherwise). Pruning, learning, evaluation and export all go
// through here; none of them multiplies a mask in on its own.
#include <string>

#include <ATen/ATen.h>

#include "io/mask_file.h"
#include "io/tiles.h"
#include "model/checkpoint.h"
#include "model/decoder.h"

namespace patchlm {

// A mask file layer as a bool tensor [rows, cols] (CPU), and a bool keep tensor (any device) as a layer.
at::Tensor keep_tensor(const LayerMask& mask);
LayerMask layer_mask(const at::Tensor& keep);

// Per-tile values [R, C] repeated to element level [R·tr, C·tc].
at::Tensor expand_tiles(const at::Tensor& tiles, const TileShape& tile);

// The mask of weight `name` [rows, cols]; Error naming `source` and the layer when it is missing or mis-shaped.
const LayerMask& mask_for(const MaskSet& masks, const std::string& name, std::int64_t rows, std::int64_t cols,
                          const std::string& source);
const LayerMask& mask_for(const MaskSet& masks, const Proj& proj, const std::string& source);

// W ⊙ keep in W's dtype and device.
at::Tensor masked_weight(const at::Tensor& weight, const LayerMask& mask);

// Every projection of `model` masked; the file must hold exactly one mask per projection.
void apply_masks(Decoder& model, const MaskSet& masks, const std::string& source);
// Every weight named in `masks` masked in the checkpoint's tensors (the file must not be empty).
void apply_masks(Checkpoint& checkpoint, const MaskSet& masks, const std::string& source);
// The checks of apply_masks(Checkpoint&, ...) without changing anything.
void check_masks_match(const Checkpoint& checkpoint, const MaskSet& masks, const std::string& source);

}  // namespace patchlm
