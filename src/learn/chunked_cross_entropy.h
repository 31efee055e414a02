#pragma once
// The language-model loss of mask learning without the whole [tokens × vocab] logits: mean next-token cross-entropy
//   CE = (1/N) Σ_i (logsumexp(z'_i) − z'_i[y_i]),  z_i = logits_of(h_i),  z' = c·tanh(z / c) with a soft-cap c > 0
// over chunks of rows. Each chunk's logits are made, turned into their loss and gradient in one pass
// (cross_entropy_rows.h) and, when hidden needs a gradient, into dL/dh at once through logits_of's own backward —
// the LM head is frozen, so nothing else needs the logits, and the backward pass only scales the stored dL/dh
// ([N, H], the hidden's dtype). No logits are recomputed; peak extra memory is one chunk of logits.
#include <cstdint>
#include <functional>

#include <ATen/ATen.h>

namespace patchlm {

// [n, H] → logits [n, V] before any soft-cap, in the model's dtype (fp32 math happens in cross_entropy_rows).
using LogitsFn = std::function<at::Tensor(const at::Tensor& hidden)>;

// hidden [N, H] (differentiable or not), targets [N] (int64) on hidden's device; rows_per_chunk ≥ 1; softcap ≤ 0:
// none. Returns the fp32 scalar CE.
at::Tensor chunked_cross_entropy(const LogitsFn& logits_of, const at::Tensor& hidden, const at::Tensor& targets,
                                 std::int64_t rows_per_chunk, double softcap = 0);

// Rows per chunk so that one chunk of fp32 logits stays near 256 MiB for a vocabulary of `vocab`, rounded down to a
// multiple of 128 where that leaves at least 128 (the LM head's GEMM tiles rows by 128: 523 rows would run 640).
std::int64_t cross_entropy_chunk_rows(std::int64_t vocab);

}  // namespace patchlm
