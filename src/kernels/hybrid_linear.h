#pragma once
// hybrid_linear(x, weight): the LibTorch op over the hybrid GEMM, and HybridProj, the strategy that puts it behind
// the Proj seam. A HybridWeight is a packed weight (io/hybrid_layout) living on a CUDA device together with the
// kernel's schedule; up to 64 tokens per kernel call (longer inputs run in chunks of 64). Where the kernel does not
// run (CPU, fp32, a tile without a kernel), kernels/hybrid_model builds the projection dense instead.
#include <map>
#include <memory>
#include <mutex>

#include <ATen/ATen.h>

#include "io/hybrid_layout.h"
#include "model/proj.h"

namespace patchlm::kernels {

struct HybridWeight {
  TileGrid grid;
  at::Tensor data;                                               // the packed tiles (uint8)
  at::Tensor tile_desc, cta_first_tile, contributors;            // schedule (int32)
  bool shared_row_blocks = false;  // some row block is split over CTAs (reduced by the finish kernel)
  bool weights_by_threads = false;  // copy tiles with cp.async, not bulk copies (the Ampere path; for tests)
  int ctas = 0, stages = 4;
  int multiprocessors = 0;              // of the weight's device (CUDA), for keeping the grid resident
  std::int64_t sm_shared_bytes = 0;

  at::Device device() const { return data.device(); }

  // The fp32 reduction workspace of `stream` (zero between calls: the finish kernel re-zeroes it), made on first use.
  // One per stream, so calls on two streams never share one; calls on one stream are ordered by it.
  at::Tensor workspace(void* stream) const;

 private:
  struct Workspaces {
    std::mutex mutex;
    std::map<void*, at::Tensor> by_stream;
  };
  std::shared_ptr<Workspaces> workspaces_ = std::make_shared<Workspaces>();
};

// Copies `packed` to `device`. ctas = 0: two CTAs per multiprocessor (the next call's CTAs can start while this
// call's finish); stages = 0: a ring of about 96 KiB of weight tiles (3 stages of 128x128 tiles). Both are what the
// autotuner found best for 1–16 tokens on an H200 (docs/performance.md). Each call keeps the grid resident by taking
// fewer stages when its tokens' x slices would not fit (hybrid_stages_that_fit).
HybridWeight upload_hybrid(const hybrid::PackedHybrid& packed, at::Device device, int ctas = 0, int stages = 0);

// Re-plans the same weight for another CTA count / ring depth (the autotuner's knobs).
void reschedule(HybridWeight& weight, const hybrid::PackedHybrid& packed, int ctas, int stages);

// y = x · Wᵀ for x [..., cols] bf16 on the weight's CUDA device. Error on the CPU or without the kernel.
at::Tensor hybrid_linear(const at::Tensor& x, const HybridWeight& weight);

// Whether this build and machine can run the kernel ("" = yes, otherwise why not).
std::string hybrid_kernel_unavailable(at::Device device);

// Whether the kernel runs `packed` on `device` ("" = yes, otherwise why not: device, build, tile shape).
std::string hybrid_kernel_unavailable(const hybrid::PackedHybrid& packed, at::Device device);

// The Proj strategy: the packed weight on its CUDA device, bf16 inputs on the kernel (Error naming the projection for
// any other input).
class HybridProj : public ProjStrategy {
 public:
  HybridProj(std::shared_ptr<const hybrid::PackedHybrid> packed, at::Device device);
  at::Tensor forward(const Proj& proj, const at::Tensor& x) override;

  const hybrid::PackedHybrid& packed() const { return *packed_; }
  const HybridWeight& weight() const { return *weight_; }

 private:
  std::shared_ptr<const hybrid::PackedHybrid> packed_;
  std::unique_ptr<HybridWeight> weight_;
};

}  // namespace patchlm::kernels
