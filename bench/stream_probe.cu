// Benchmark: how fast can a GPU stream a large read-only buffer with the access patterns the hybrid GEMM uses?
// No math — only the memory pipeline, to tell the kernel's own limits from the memory system's (docs/performance.md).
//   bench_stream_probe [--mb 1024] [--window-mb 112]   (a window per launch, rotated over the buffer)
// Prints TB/s for: the hybrid kernel's pattern (each CTA a contiguous run, a ring of bulk copies of one tile each,
// one __syncthreads per tile) over chunk size, ring depth and CTAs per SM; the same with chunks interleaved across
// CTAs; and plain 16-byte loads by every thread (8 in flight) with contiguous runs.
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
__device__ __forceinline__ std::uint32_t smem_u32(const void* p) {
  return static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
}
#endif

// Ring of bulk copies: CTA c reads chunks [first, last) (contiguous) or chunks c, c + G, ... (interleaved).
__global__ void bulk_ring(const std::uint8_t* data, std::int64_t chunks, int chunk_bytes, int stages, bool interleaved,
                          std::uint32_t* sink) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  extern __shared__ __align__(128) std::uint8_t smem[];
  __shared__ __align__(8) std::uint64_t full[16];
  const std::int64_t G = gridDim.x, c = blockIdx.x;
  const std::int64_t count = interleaved ? (chunks - c + G - 1) / G : (chunks * (c + 1) / G - chunks * c / G);
  const std::int64_t base = interleaved ? c : chunks * c / G, step = interleaved ? G : 1;
  if (threadIdx.x == 0)
    for (int s = 0; s < stages; ++s) {
      asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(smem_u32(&full[s])));
    }
  asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  __syncthreads();
  auto issue = [&](std::int64_t k) {
    if (threadIdx.x != 0 || k >= count) return;
    int s = static_cast<int>(k % stages);
    std::uint32_t bar = smem_u32(&full[s]);
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(chunk_bytes) : "memory");
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
                     smem_u32(smem + static_cast<std::size_t>(s) * chunk_bytes)),
                 "l"(data + (base + k * step) * chunk_bytes), "r"(chunk_bytes), "r"(bar)
                 : "memory");
  };
  for (int s = 0; s < stages - 1; ++s) issue(s);
  std::uint32_t acc = 0;
  for (std::int64_t k = 0; k < count; ++k) {
    std::uint32_t bar = smem_u32(&full[k % stages]), parity = (k / stages) & 1, done = 0;
    while (!done)
      asm volatile("{ .reg .pred p; mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2; selp.u32 %0, 1, 0, p; }"
                   : "=r"(done)
                   : "r"(bar), "r"(parity)
                   : "memory");
    __syncthreads();
    issue(k + stages - 1);
    acc += reinterpret_cast<const std::uint32_t*>(smem + (k % stages) * chunk_bytes)[threadIdx.x];
  }
  if (acc == 0x12345678u) *sink = acc;
#endif
}

// Every thread loads 16 bytes, 8 loads in flight; CTA c reads a contiguous run.
__global__ void ldg_stream(const uint4* data, std::int64_t n16, std::uint32_t* sink) {
  const std::int64_t G = gridDim.x, c = blockIdx.x;
  const std::int64_t first = n16 * c / G, last = n16 * (c + 1) / G;
  std::uint32_t acc = 0;
  for (std::int64_t i = first + threadIdx.x; i < last; i += 8 * blockDim.x) {
    uint4 v[8];
#pragma unroll
    for (int u = 0; u < 8; ++u) {
      std::int64_t j = i + u * blockDim.x;
      v[u] = j < last ? __ldg(data + j) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < 8; ++u) acc ^= v[u].x ^ v[u].w;
  }
  if (acc == 0x12345678u) *sink = acc;
}

// Launch r reads window r % windows of the buffer, so a window smaller than the buffer still comes from HBM.
template <typename Launch>
double tbps(Launch launch, double bytes) {
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  launch(0);
  cudaDeviceSynchronize();
  cudaEventRecord(a);
  const int reps = 20;
  for (int r = 0; r < reps; ++r) launch(r);
  cudaEventRecord(b);
  cudaEventSynchronize(b);
  float ms = 0;
  cudaEventElapsedTime(&ms, a, b);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return bytes * reps / (ms * 1e-3) / 1e12;
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t mb = 1024, window_mb = 0;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--mb") == 0) mb = std::atoll(argv[i + 1]);
    if (std::strcmp(argv[i], "--window-mb") == 0) window_mb = std::atoll(argv[i + 1]);
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
    std::fprintf(stderr, "bench_stream_probe: no CUDA device\n");
    return 1;
  }
  const std::int64_t total = mb << 20, bytes = window_mb > 0 ? window_mb << 20 : total;
  const std::int64_t windows = total / bytes;
  std::uint8_t* data = nullptr;
  std::uint32_t* sink = nullptr;
  cudaMalloc(&data, total);
  cudaMalloc(&sink, 4);
  cudaMemset(data, 1, total);
  std::printf("GPU: %s, %d SMs; %lld MB read per launch, %lld windows rotated\n", prop.name,
              prop.multiProcessorCount, static_cast<long long>(bytes >> 20), static_cast<long long>(windows));
  auto window = [&](int r) { return data + (r % windows) * bytes; };
  const int sms = prop.multiProcessorCount;
  std::printf("%-44s %8s\n", "pattern", "TB/s");
  for (int per_sm : {1, 2, 4})
    for (int chunk_kb : {16, 32})
      for (int stages : {4, 6})
        for (bool interleaved : {false, true}) {
          const int chunk = chunk_kb << 10;
          const std::size_t smem = static_cast<std::size_t>(stages) * chunk;
          if (per_sm * (smem + 2048) > prop.sharedMemPerMultiprocessor) continue;
          cudaFuncSetAttribute(bulk_ring, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
          double r = tbps([&](int rep) { bulk_ring<<<sms * per_sm, 256, smem>>>(window(rep), bytes / chunk, chunk,
                                                                                  stages, interleaved, sink); },
                          static_cast<double>(bytes));
          std::printf("bulk ring %2d KiB x %d stages, %d CTA/SM, %-11s %8.2f\n", chunk_kb, stages, per_sm,
                      interleaved ? "interleaved" : "contiguous", r);
        }
  for (int per_sm : {1, 2, 4, 8}) {
    double r = tbps([&](int rep) {
      ldg_stream<<<sms * per_sm, 256>>>(reinterpret_cast<const uint4*>(window(rep)), bytes / 16, sink);
    },
                    static_cast<double>(bytes));
    std::printf("16-byte loads, 8 in flight, %d CTA/SM, contiguous    %8.2f\n", per_sm, r);
  }
  cudaError_t err = cudaDeviceSynchronize();
  if (err != cudaSuccess) std::fprintf(stderr, "CUDA error: %s\n", cudaGetErrorString(err));
  cudaFree(data);
  cudaFree(sink);
  return err == cudaSuccess ? 0 : 1;
}
