#pragma once
// The engine's KV cache: per layer, keys and values after RoPE for `slots` sequences of up to `length` tokens each,
// [slots, kv_heads, length, head_dim] in the model's dtype, allocated once. A sequence owns a slot; its position p
// lives at index p. One spare slot past the last takes the writes of padding rows when a decode batch is rounded up
// to a captured bucket.
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

namespace patchlm {

class StaticKvCache {
 public:
  StaticKvCache() = default;
  StaticKvCache(std::int64_t layers, std::int64_t slots, std::int64_t kv_heads, std::int64_t length, std::int64_t head_dim,
          const at::TensorOptions& options);

  at::Tensor& keys(std::size_t layer) { return keys_[layer]; }
  at::Tensor& values(std::size_t layer) { return values_[layer]; }
  std::int64_t slots() const { return slots_; }
  std::int64_t spare_slot() const { return slots_; }
  std::int64_t length() const { return length_; }
  std::uint64_t bytes() const;

 private:
  std::vector<at::Tensor> keys_, values_;
  std::int64_t slots_ = 0, length_ = 0;
};

}  // namespace patchlm
