#pragma once
// Export of a mask to a normal Hugging Face checkpoint: every masked weight becomes W ⊙ keep (zeros where pruned),
// every other tensor, the config and the tokenizer files stay as they are. transformers loads the result directly.
#include <string>

#include "io/mask_file.h"
#include "model/checkpoint.h"

namespace patchlm {

// Error naming `source` and the tensor when a mask has no weight of that name or another shape (a mask of another
// model), or the mask file holds no masks.
void check_masks_match(const Checkpoint& checkpoint, const MaskSet& masks, const std::string& source);

// Multiplies the checkpoint's weights by the masks (in place, as float32). Error naming `source` and the tensor
// when a mask has no weight of that name or another shape (a mask of another model).
void apply_masks_to_checkpoint(Checkpoint& checkpoint, const MaskSet& masks, const std::string& source);

}  // namespace patchlm
