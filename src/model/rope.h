#pragma once
// Rotary position embeddings in the Hugging Face layout (rotate_half over the two halves of each head),
// with the default, linear and llama3 frequency schedules. Frequencies and angles are float32, as in HF.
#include <ATen/ATen.h>

#include "io/model_config.h"

namespace patchlm {

// inv_freq [head_dim / 2] for a rope config.
at::Tensor rope_inverse_frequencies(const RopeConfig& rope, std::int64_t head_dim);

// cos and sin [T, head_dim] for absolute positions [T], in `dtype`.
std::pair<at::Tensor, at::Tensor> rope_cos_sin(const at::Tensor& inv_freq, const at::Tensor& positions,
                                               at::ScalarType dtype);

// x [B, H, T, D] rotated by cos/sin [T, D].
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

// The same rotation, differentiable in x, as one CUDA kernel forward and one backward (fp32 math, one rounding of
// each output; the composed form takes ~6 passes each way, among them a zero-filled slice backward): for bf16 or
// fp32 x on CUDA with unit stride in D, even D and cos/sin [T, D] of x's dtype. Anything else: apply_rope.
at::Tensor apply_rope_fused(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace patchlm
