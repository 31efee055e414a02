#include "engine/kv_cache.h"

namespace patchlm {

StaticKvCache::StaticKvCache(std::int64_t layers, std::int64_t slots, std::int64_t kv_heads, std::int64_t length,
                 std::int64_t head_dim, const at::TensorOptions& options)
    : slots_(slots), length_(length) {
  for (std::int64_t l = 0; l < layers; ++l) {
    keys_.push_back(at::zeros({slots + 1, kv_heads, length, head_dim}, options));
    values_.push_back(at::zeros({slots + 1, kv_heads, length, head_dim}, options));
  }
}

std::uint64_t StaticKvCache::bytes() const {
  std::uint64_t total = 0;
  for (const at::Tensor& t : keys_) total += t.nbytes();
  for (const at::Tensor& t : values_) total += t.nbytes();
  return total;
}

}  // namespace patchlm
