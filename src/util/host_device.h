#pragma once
// Functions compiled for both the host and CUDA devices, in torch-free headers that .cu files include (nvcc, C++17):
// PATCHLM_HOST_DEVICE marks one for both sides; PATCHLM_HOST_DEVICE_INLINE one defined in a header — inline, and
// always inlined on the device. Outside nvcc they are plain C++.
#ifdef __CUDACC__
#define PATCHLM_HOST_DEVICE __host__ __device__
#define PATCHLM_HOST_DEVICE_INLINE __host__ __device__ __forceinline__
#else
#define PATCHLM_HOST_DEVICE
#define PATCHLM_HOST_DEVICE_INLINE inline
#endif
