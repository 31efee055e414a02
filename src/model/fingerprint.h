#pragma once
// A 64-bit fingerprint of a checkpoint's tensors (names, dtypes, shapes and bytes as stored), written into mask
// files as `source_model_hash` so that a mask can be checked against the model it was made for. Not
// cryptographic: it tells models apart, it does not authenticate them.
#include <string>

#include "model/checkpoint.h"

namespace patchlm {

std::string checkpoint_fingerprint(const Checkpoint& checkpoint);  // 16 hex digits

}  // namespace patchlm
