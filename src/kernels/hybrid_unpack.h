#pragma once
// The hybrid layout unpacked on the GPU: W ⊙ M back as a dense bf16 [rows, cols] — the device twin of
// io/hybrid_layout's unpack(), one CTA per stored tile, each 16-row slice decoded into shared memory and written out
// in coalesced 16-byte rows. hybrid_linear runs it past the decode kernel's crossover (many tokens: prefill, large
// batches), where the GEMM is compute bound and cuBLAS on the unpacked weight beats the decode kernel's 64-token
// chunks: one layer's dense weight exists at a time, for that call only. No CUDA types here.
#include <cstdint>
#include <string>
#include <vector>

#include "io/hybrid_layout.h"
#include "kernels/hybrid_unpack_kernels.h"

namespace patchlm::kernels {

// Per stored tile, in stored order: its byte offset in the packed data and where it goes,
// (row block << 32) | (tile column << 1) | (1 if stored 2:4).
std::vector<std::int64_t> unpack_table(const hybrid::PackedHybrid& packed);

}  // namespace patchlm::kernels
