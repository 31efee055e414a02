#pragma once
// The order in which mask learning reads its training sequences: epoch after epoch over a fixed pool, each epoch
// a seeded permutation. The k-th sequence of the whole run is a pure function of (pool size, seed, k), so a
// resumed run and every data-parallel rank find their sequences without any shared state (rank r of w reads
// global indices ≡ r mod w).
#include <cstdint>
#include <vector>

namespace patchlm {

class SequenceOrder {
 public:
  SequenceOrder(std::int64_t pool_size, std::uint64_t seed);
  // Index into the pool of the k-th sequence read (k ≥ 0).
  std::int64_t at(std::int64_t k);
  std::int64_t pool_size() const { return size_; }

 private:
  std::int64_t size_;
  std::uint64_t seed_;
  std::int64_t epoch_ = -1;
  std::vector<std::int64_t> permutation_;
};

}  // namespace patchlm
