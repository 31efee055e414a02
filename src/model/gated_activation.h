#pragma once
// The gated MLP's activation: h = act(gate) · up, act = SiLU (LLaMA, Qwen) or GELU's tanh form (Gemma).
#include <ATen/ATen.h>

namespace patchlm {

// `fused`: on CUDA for bf16 / fp32 tensors of one shape, one kernel forward (reads gate and up, writes h) and one
// backward (dgate and dup from dh, gate and up), fp32 math and one rounding per output, saving gate and up only —
// the composed form saves act(gate) as well and takes five passes. Elsewhere, or not fused: act(gate) * up in ATen.
at::Tensor gated_activation(const at::Tensor& gate, const at::Tensor& up, bool gelu_tanh, bool fused);

}  // namespace patchlm
