#pragma once
// Applying a mask file to a loaded model: every masked projection's weight becomes W ⊙ keep. The file must
// cover exactly the model's projections with their shapes (Error naming the file and layer otherwise).
#include <string>

#include "io/mask_file.h"
#include "model/decoder.h"

namespace patchlm {

void apply_masks(Decoder& model, const MaskSet& masks, const std::string& source);

// The mask of one projection, checked against its shape; Error naming `source` and the layer otherwise.
const LayerMask& mask_for(const MaskSet& masks, const Proj& proj, const std::string& source);

}  // namespace patchlm
