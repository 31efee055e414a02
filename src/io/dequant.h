#pragma once
// ggml block formats → float32, with the same arithmetic (and so the same bits) as the reference dequantisers
// of the `gguf` Python package: scales are multiplied first, then applied, in float32 without fused multiply-add.
#include <cstddef>
#include <cstdint>
#include <span>

#include "io/gguf.h"

namespace patchlm {

bool dequant_supported(GgmlType type);

// `src` holds whole blocks for exactly `out.size()` elements. Throws Error for unsupported types or size mismatch.
void dequantize(GgmlType type, std::span<const std::byte> src, std::span<float> out);

}  // namespace patchlm
