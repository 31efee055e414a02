#include "data/sequence_order.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "util/error.h"

namespace patchlm {

SequenceOrder::SequenceOrder(std::int64_t pool_size, std::uint64_t seed) : size_(pool_size), seed_(seed) {
  if (pool_size < 1) throw Error("no training sequences");
}

std::int64_t SequenceOrder::at(std::int64_t k) {
  if (k < 0) throw Error(str_cat("sequence index must be >= 0, got ", k));
  const std::int64_t epoch = k / size_;
  if (epoch != epoch_) {
    permutation_.resize(static_cast<std::size_t>(size_));
    std::iota(permutation_.begin(), permutation_.end(), std::int64_t{0});
    // std::shuffle's exact sequence is implementation-defined; a hand-written Fisher-Yates over mt19937_64 is not,
    // so the data order is the same with every standard library.
    std::mt19937_64 rng(seed_ * 0x100000001b3ull + static_cast<std::uint64_t>(epoch));
    for (std::int64_t i = size_ - 1; i > 0; --i) {
      const auto j = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(i + 1));
      std::swap(permutation_[static_cast<std::size_t>(i)], permutation_[static_cast<std::size_t>(j)]);
    }
    epoch_ = epoch;
  }
  return permutation_[static_cast<std::size_t>(k % size_)];
}

}  // namespace patchlm
