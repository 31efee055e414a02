#include "model/fingerprint.h"

#include <cstdint>
#include <cstdio>
#include <cstring>

namespace patchlm {
namespace {

// A 64-bit multiply-xorshift mix per 8-byte word: fast enough to run over a whole model at memory speed.
struct Hasher {
  std::uint64_t h = 0x243f6a8885a308d3ull;
  void word(std::uint64_t w) {
    h ^= w + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  void bytes(const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      std::uint64_t w;
      std::memcpy(&w, p + i, 8);
      word(w);
    }
    std::uint64_t tail = 0;
    std::memcpy(&tail, p + i, n - i);
    word(tail ^ (static_cast<std::uint64_t>(n) << 56));
  }
};

}  // namespace

std::string checkpoint_fingerprint(const Checkpoint& ckpt) {
  Hasher hash;
  for (const auto& [name, t] : ckpt.tensors) {
    hash.bytes(name.data(), name.size());
    hash.word(static_cast<std::uint64_t>(t.scalar_type()));
    for (std::int64_t s : t.sizes()) hash.word(static_cast<std::uint64_t>(s));
    const at::Tensor c = t.contiguous();
    hash.bytes(c.data_ptr(), c.nbytes());
  }
  for (const auto& [name, packed] : ckpt.hybrid) {  // packed weights as stored (their bytes determine the weight)
    hash.bytes(name.data(), name.size());
    hash.bytes(packed->data.data(), packed->data.size());
    hash.bytes(packed->columns.data(), packed->columns.size() * sizeof(std::int32_t));
    hash.bytes(packed->sparse_tiles.data(), packed->sparse_tiles.size() * sizeof(std::int32_t));
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(hash.h));
  return out;
}

}  // namespace patchlm
