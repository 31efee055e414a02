#pragma once
// The language-model loss of mask learning without the whole [tokens × vocab] logits: mean next-token cross-entropy
//   CE = (1/N) Σ_i (logsumexp(z_i) − z_i[y_i]),  z_i = logits_of(h_i)
// over chunks of rows. The forward keeps only each row's logsumexp; the backward recomputes one chunk of logits at a
// time and hands dL/dh on (the LM head is frozen: no weight gradient). Peak extra memory: one chunk of fp32 logits
// and its gradient instead of three tensors of N × V.
#include <cstdint>
#include <functional>

#include <ATen/ATen.h>

namespace patchlm {

using LogitsFn = std::function<at::Tensor(const at::Tensor& hidden)>;  // [n, H] → fp32 logits [n, V]

// hidden [N, H] (differentiable), targets [N] (int64) on hidden's device; rows_per_chunk ≥ 1. `logits_of` must
// outlive the backward pass.
at::Tensor chunked_cross_entropy(const LogitsFn& logits_of, const at::Tensor& hidden, const at::Tensor& targets,
                                 std::int64_t rows_per_chunk);

// Rows per chunk so that one chunk of fp32 logits stays near 256 MiB for a vocabulary of `vocab`.
std::int64_t cross_entropy_chunk_rows(std::int64_t vocab);

}  // namespace patchlm
