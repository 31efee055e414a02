#pragma once
// Shared-memory mbarriers, the asynchronous copies they count and loads by shared-memory address, shared by the decode
// kernel (hybrid_gemm.cu) and the prefill kernel (hybrid_prefill.cu). Device code only (include from .cu files,
// C++17); the bulk and tensor copies need sm_90 and compile to nothing below it.
#include <cuda.h>

#include <cstdint>

namespace patchlm::kernels {

__device__ __forceinline__ std::uint32_t shared_address(const void* p) {
  return static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void mbarrier_init(std::uint32_t bar, int count) {
  asm volatile("mbarrier.init.shared.b64 [%0], %1;" ::"r"(bar), "r"(count));
}

// After a thread initialised the barriers, before other threads (and the copy engine) use them.
__device__ __forceinline__ void mbarrier_init_fence() {
  asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
}

__device__ __forceinline__ void mbarrier_arrive(std::uint32_t bar) {
  asm volatile("{ .reg .b64 state; mbarrier.arrive.shared.b64 state, [%0]; }" ::"r"(bar) : "memory");
}

// Spins until the barrier's phase with this parity has completed. On sm_90 the loop lives inside the PTX, so the
// compiler sees no data-dependent branch: one between wgmmas in flight makes ptxas serialise them (C7520).
__device__ __forceinline__ void mbarrier_wait(std::uint32_t bar, std::uint32_t parity) {
#if __CUDA_ARCH__ >= 900
  asm volatile(
      "{\n.reg .pred p;\nretry:\nmbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n@!p bra retry;\n}\n" ::"r"(bar),
      "r"(parity)
      : "memory");
#else
  std::uint32_t done = 0;
  while (!done)
    asm volatile("{ .reg .pred p; mbarrier.test_wait.parity.shared.b64 p, [%1], %2; selp.u32 %0, 1, 0, p; }"
                 : "=r"(done)
                 : "r"(bar), "r"(parity)
                 : "memory");
#endif
}

// One arrival that also tells the barrier how many bytes the copies issued for this phase will deliver.
__device__ __forceinline__ void mbarrier_arrive_expect(std::uint32_t bar, std::uint32_t bytes) {
#if __CUDA_ARCH__ >= 900
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(bytes) : "memory");
#endif
}

// The copy engine moves `bytes` contiguous bytes (a multiple of 16) and counts them on `bar`.
__device__ __forceinline__ void bulk_copy(std::uint32_t dst, const void* src, std::uint32_t bytes, std::uint32_t bar) {
#if __CUDA_ARCH__ >= 900
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(dst),
               "l"(src), "r"(bytes), "r"(bar)
               : "memory");
#endif
}

// TMA: the box of a 2-D tensor map at (column, row) into shared memory (swizzled as the map says), counted on `bar`.
__device__ __forceinline__ void tensor_copy(std::uint32_t dst, const CUtensorMap* map, int column, int row,
                                            std::uint32_t bar) {
#if __CUDA_ARCH__ >= 900
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];" ::"r"(dst),
      "l"(reinterpret_cast<std::uint64_t>(map)), "r"(column), "r"(row), "r"(bar)
      : "memory");
#endif
}

// Shared-memory loads by address: through a C++ pointer the compiler emitted generic loads (the pointer had been
// aligned through uintptr_t), which wait on the long scoreboard — the wgmma fence after them was the MMA warps'
// second largest stall (ncu, docs/performance.md).
__device__ __forceinline__ uint4 load_shared_v4(std::uint32_t addr) {
  uint4 v;
  asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "r"(addr));
  return v;
}
__device__ __forceinline__ std::uint32_t load_shared_u32(std::uint32_t addr) {
  std::uint32_t v;
  asm volatile("ld.shared.u32 %0, [%1];" : "=r"(v) : "r"(addr));
  return v;
}

}  // namespace patchlm::kernels
