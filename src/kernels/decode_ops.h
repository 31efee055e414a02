#pragma once
// The engine's decode-step operations as LibTorch ops: the fused CUDA kernels of kernels/decode_kernels on CUDA bf16
// tensors, and ATen references everywhere else (CPU, fp32) that compute the same thing the way the Hugging Face models
// do — the references are what the kernels are tested against, and what the engine runs on the CPU.
#include <ATen/ATen.h>

namespace patchlm::kernels {

// y = rms_norm(x) · w, or · (1 + w) when plus_one (Gemma); x [..., cols], norm over the last dimension.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps, bool plus_one);
// h += add (in place, in h's dtype), then returns rms_norm(h) · w: the residual add fused into the next norm.
at::Tensor add_rms_norm(at::Tensor& h, const at::Tensor& add, const at::Tensor& weight, double eps, bool plus_one);
// In place on the heads [n, heads, head_dim] that `heads_view` selects from fused qkv rows (q_norm / k_norm).
void rms_norm_heads_(at::Tensor& qkv, std::int64_t first_head, std::int64_t heads, std::int64_t head_dim,
                     const at::Tensor& weight, double eps, bool plus_one);

// qkv [n, (H + 2·KVH)·D]: rotates q and k in place by the angles of `positions` [n] (cos/sin fp32 [len, D]), and
// writes k and v into k_cache / v_cache [slots, KVH, cache_len, D] at (slots[i], positions[i]).
void rope_and_cache_(at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& positions,
                     const at::Tensor& slots, at::Tensor& k_cache, at::Tensor& v_cache, std::int64_t heads,
                     std::int64_t kv_heads);

// Attention of sequence b's query (the q heads of qkv row b) over cache slot slots[b], keys
// [max(0, positions[b] + 1 − window), positions[b]] (window 0 = all); out [batch, H·D].
at::Tensor decode_attention(const at::Tensor& qkv, const at::Tensor& k_cache, const at::Tensor& v_cache,
                            const at::Tensor& positions, const at::Tensor& slots, std::int64_t heads,
                            std::int64_t kv_heads, double scale, std::int64_t window);

// [n, 2I] = [gate | up] → act(gate) · up [n, I]; act = silu or gelu_pytorch_tanh.
at::Tensor gated_activation(const at::Tensor& gate_up, bool gelu);

}  // namespace patchlm::kernels
