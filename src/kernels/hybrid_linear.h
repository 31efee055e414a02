#pragma once
// hybrid_linear(x, weight): the LibTorch op over the hybrid GEMM, and HybridProj, the strategy that puts it behind
// the Proj seam. A HybridWeight is a packed weight (kernels/hybrid_layout) living on a device together with the
// kernel's schedule and reduction workspace. On CUDA, up to 64 tokens per kernel call (longer inputs run in chunks of
// 64); on the CPU, or when the kernel was not built, the weight is unpacked once and used as a dense matrix.
#include <memory>
#include <mutex>

#include <ATen/ATen.h>

#include "kernels/hybrid_layout.h"
#include "model/proj.h"

namespace patchlm::kernels {

struct HybridWeight {
  hybrid::TileGrid grid;
  at::Tensor data;                                               // the packed tiles (uint8)
  at::Tensor tile_desc, cta_first_tile, contributors;            // schedule (int32)
  at::Tensor workspace;                                          // fp32 zeros between calls
  bool shared_row_blocks = false;  // some row block is split over CTAs (reduced by the finish kernel)
  bool weights_by_threads = false;  // copy tiles with cp.async, not bulk copies (the Ampere path; for tests)
  int ctas = 0, stages = 4;
  int multiprocessors = 0;              // of the weight's device (CUDA), for keeping the grid resident
  std::int64_t sm_shared_bytes = 0;
  double sparse_share = 0;

  at::Device device() const { return data.device(); }
};

// Copies `packed` to `device`. ctas = 0: two CTAs per multiprocessor (the next call's CTAs can start while this
// call's finish); stages = 0: a ring of about 96 KiB of weight tiles (3 stages of 128x128 tiles). Both are what the
// autotuner found best for 1–16 tokens on an H200 (docs/performance.md). Each call keeps the grid resident by taking
// fewer stages when its tokens' x slices would not fit (hybrid_stages_that_fit).
HybridWeight upload_hybrid(const hybrid::PackedHybrid& packed, at::Device device, int ctas = 0, int stages = 0);

// Re-plans the same weight for another CTA count / ring depth (the autotuner's knobs).
void reschedule(HybridWeight& weight, const hybrid::PackedHybrid& packed, int ctas, int stages);

// Dense bf16 [rows, cols] on the weight's device (pruned weights zero).
at::Tensor unpack_dense(const hybrid::PackedHybrid& packed);

// y = x · Wᵀ for x [..., cols] bf16 on the weight's CUDA device. Error on the CPU or without the kernel.
at::Tensor hybrid_linear(const at::Tensor& x, const HybridWeight& weight);

// Whether this build and machine can run the kernel ("" = yes, otherwise why not).
std::string hybrid_kernel_unavailable(at::Device device);

// The Proj strategy: the kernel on CUDA bf16 inputs (for tile shapes it was built for), else the dense unpacked
// weight (built once, on first use).
class HybridProj : public ProjStrategy {
 public:
  HybridProj(std::shared_ptr<const hybrid::PackedHybrid> packed, at::Device device);
  at::Tensor forward(const Proj& proj, const at::Tensor& x) override;

  const hybrid::PackedHybrid& packed() const { return *packed_; }
  bool uses_kernel() const { return weight_ != nullptr; }

 private:
  std::shared_ptr<const hybrid::PackedHybrid> packed_;
  at::Device device_;
  std::unique_ptr<HybridWeight> weight_;  // device copy, when the kernel runs
  at::Tensor dense_;                      // fallback
  std::once_flag dense_once_;
};

}  // namespace patchlm::kernels
