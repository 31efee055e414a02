#pragma once
// Programmatic dependent launch (Hopper, compute capability 9.0): a kernel launched with the attribute may start while
// the kernel before it in the stream is still finishing, so its prologue — barrier set-up, and for the GEMMs the first
// weight tiles, which no kernel writes — overlaps that kernel's tail instead of following its last CTA. Two halves:
//   - the dependent kernel calls wait_for_previous_kernel() before it touches anything the previous kernel may write
//     (its input x, its output y, workspaces): griddepcontrol.wait returns once that grid has completed and its
//     memory is visible;
//   - any kernel may call allow_next_kernel() to let a dependent start before it ends (griddepcontrol.launch_dependents;
//     without it a dependent starts as this grid's last CTAs exit). It only changes when the next kernel is scheduled,
//     never what it reads: that is the wait's job.
// Both compile to nothing below sm_90, where the launch attribute is not set either (dependent_launch_config).
// The switch is plain C++ (benchmarks set it); the device helpers and the launch configuration are for .cu files.
namespace patchlm::kernels {

// Whether this process launches the GEMM kernels as dependents (default: yes, where the device has compute
// capability 9.0). `patchlm bench gemm|e2e --no-dependent-launch` turns it off to time each call on its own.
bool dependent_launch_enabled();
void set_dependent_launch(bool enabled);

}  // namespace patchlm::kernels

#ifdef __CUDACC__
#include <cuda_runtime.h>

namespace patchlm::kernels {

__device__ __forceinline__ void wait_for_previous_kernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void allow_next_kernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;");
#endif
}

// A launch configuration for cudaLaunchKernelEx; with `*attribute` (owned by the caller, alive until the launch) set to
// programmatic stream serialisation where dependent_launch_enabled() and the current device supports it.
cudaLaunchConfig_t dependent_launch_config(dim3 grid, dim3 block, int shared_bytes, cudaStream_t stream,
                                           cudaLaunchAttribute* attribute);

}  // namespace patchlm::kernels
#endif
