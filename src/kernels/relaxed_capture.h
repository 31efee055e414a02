#pragma once
// RelaxedCapture: while alive, this thread's stream capture runs in relaxed mode (cudaThreadExchangeStreamCaptureMode),
// so host calls that are not stream work — a kernel attribute, an occupancy query — may run while a CUDA graph is
// being captured in global mode, as at::cuda::CUDAGraph captures: global mode rejects calls it deems unsafe. The
// prefill kernel's one-time calls need it: its cluster split is taken in graph-captured launches only, so a cluster
// kernel's first launch happens inside a capture. For .cu files.
#include <cuda_runtime.h>

namespace patchlm::kernels {

class RelaxedCapture {
 public:
  RelaxedCapture() { cudaThreadExchangeStreamCaptureMode(&mode_); }
  ~RelaxedCapture() { cudaThreadExchangeStreamCaptureMode(&mode_); }
  RelaxedCapture(const RelaxedCapture&) = delete;
  RelaxedCapture& operator=(const RelaxedCapture&) = delete;

 private:
  cudaStreamCaptureMode mode_ = cudaStreamCaptureModeRelaxed;  // the mode to set, then the one to restore
};

}  // namespace patchlm::kernels
