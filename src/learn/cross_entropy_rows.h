#pragma once
// One chunk of the language-model loss, row by row, and its gradient in the same pass over the logits:
//   z'_i = c·tanh(z_i / c) (Gemma's soft-cap, when c > 0), loss_i = logsumexp(z'_i) − z'_i[y_i],
//   dloss_i/dz_i = (softmax(z'_i) − onehot(y_i)) · (1 − (z'_i / c)²)   (the last factor only with the cap).
// The math is fp32 whatever the logits' dtype. On CUDA with bf16 logits one kernel reads each row twice (logsumexp,
// then the gradient written over the logits in place); elsewhere ATen's ops compute the same formula.
// Used by chunked_cross_entropy, which turns the gradient into dL/dhidden at once (no logits recomputed later).
#include <cstdint>

#include <ATen/ATen.h>

namespace patchlm {

struct CrossEntropyRows {
  at::Tensor loss;  // fp32 [rows]: logsumexp − the target's logit
  at::Tensor grad;  // dloss/dz · grad_scale in the logits' dtype, [rows, vocab]; undefined unless asked for. May be
                    // the logits' own storage (overwritten): the caller must not need them afterwards.
};

// logits [rows, vocab] (not differentiated through), targets [rows] int64 in [0, vocab) — a target outside gives a
// NaN loss on CUDA, an error elsewhere. softcap ≤ 0: none.
CrossEntropyRows cross_entropy_rows(const at::Tensor& logits, const at::Tensor& targets, double softcap,
                                    bool with_grad, double grad_scale);

}  // namespace patchlm
