#pragma once
// One prefill GEMM call as the work-split and cost-model tests describe it: tokens, the weight's rows and columns, N
// tokens per output tile, the weight tile's height and width, and the SMs.
#include <cstdint>

namespace patchlm::prefill_test {

struct PrefillCase {
  std::int64_t tokens, rows, cols;
  int n, th, tw, mp;
};

}  // namespace patchlm::prefill_test
