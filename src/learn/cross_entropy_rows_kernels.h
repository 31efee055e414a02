#pragma once
// The launch description of cross_entropy_rows' CUDA kernel (cross_entropy_rows.cu): raw pointers, bf16 logits.
#include <cstdint>

namespace patchlm {

struct CrossEntropyRowsLaunch {
  void* logits = nullptr;              // bf16 bits [rows, vocab], row-major; the gradient is written over them
  const std::int64_t* targets = nullptr;
  float* loss = nullptr;               // [rows]
  std::int64_t rows = 0, vocab = 0;
  float softcap = 0;                   // ≤ 0: none
  bool with_grad = false;
  float grad_scale = 1;
  void* cuda_stream = nullptr;
};

void cross_entropy_rows_cuda(const CrossEntropyRowsLaunch& launch);

}  // namespace patchlm
