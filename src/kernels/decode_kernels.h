#pragma once
// The small fused kernels of a decode step (CUDA, bf16 in and out, fp32 inside), for the engine's forward
// (engine/step): RMSNorm with the residual add fused in, RoPE with the KV-cache write fused in, attention of one query
// per sequence over its cache, and the gated activation of the MLP. Without them a step is ~20 small ATen kernels per
// layer; with them 9 (docs/performance.md). No CUDA types here; the LibTorch ops with CPU references are in
// kernels/decode_ops.h.
#include <cstdint>
#include <string>

namespace patchlm::kernels {

// rows of `cols` elements; row r starts at x + (r / groups) · outer_stride + (r % groups) · cols (groups = 1,
// outer_stride = cols: a plain matrix; groups = heads: the heads of a fused qkv row).
struct RowLayout {
  int rows = 0, cols = 0, groups = 1;
  std::int64_t outer_stride = 0;
};

// y = rms_norm(h) · w (or · (1 + w)); with `add`, first h += add (in place, rounded to bf16 as the model's residual
// stream is). `h` and `y` may alias (in-place norm). add and y are plain [rows, cols] matrices.
struct RmsNormArgs {
  void* h = nullptr;
  const void* add = nullptr;  // optional
  const void* weight = nullptr;
  void* y = nullptr;
  RowLayout layout;
  float eps = 1e-6f;
  bool plus_one = false;
};
std::string rms_norm(const RmsNormArgs& args, void* stream);

// Rotates the q and k heads of n fused qkv rows [n, (H + 2·KVH)·D] in place by the angles of their positions (cos/sin
// tables fp32 [table_len, D]), then writes each row's k and v heads to k_cache / v_cache [slots, KVH, cache_len, D] at
// (slot[i], position[i]).
struct RopeCacheArgs {
  void* qkv = nullptr;
  const float* cos = nullptr;
  const float* sin = nullptr;
  const std::int64_t* positions = nullptr;
  const std::int64_t* slots = nullptr;
  void* k_cache = nullptr;
  void* v_cache = nullptr;
  int n = 0, heads = 0, kv_heads = 0, head_dim = 0;
  std::int64_t cache_len = 0;
};
std::string rope_and_cache(const RopeCacheArgs& args, void* stream);

// One query row per sequence b (the q heads of fused qkv row b) against keys [max(0, len_b − window), len_b) of its
// cache slot slots[b], len_b = positions[b] + 1; out [batch, H·D]. window 0 = all keys.
struct DecodeAttentionArgs {
  const void* qkv = nullptr;
  const void* k_cache = nullptr;
  const void* v_cache = nullptr;
  const std::int64_t* positions = nullptr;
  const std::int64_t* slots = nullptr;
  void* out = nullptr;
  int batch = 0, heads = 0, kv_heads = 0, head_dim = 0;
  std::int64_t cache_len = 0;
  float scale = 1.f;
  int window = 0;
};
std::string decode_attention(const DecodeAttentionArgs& args, void* stream);
bool decode_attention_supported(int head_dim);  // 64, 128, 256

// out [n, I] = act(gate) · up for rows [n, 2I] = [gate | up]; act silu or gelu (tanh approximation).
std::string gated_activation(const void* gate_up, void* out, int n, int inter, bool gelu, void* stream);

}  // namespace patchlm::kernels
