// CUDA kernels of logit_adamw: 8 elements per thread with 128-bit accesses (a plain one-per-thread kernel for a
// tail or unaligned tensors), grid-stride, fp32 math, fp32 or bf16 (stochastically rounded) logits and moments. A
// non-finite gradient element sets *non_finite.
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "learn/logit_adamw_kernels.h"
#include "learn/logit_adamw_element.h"

namespace patchlm {
namespace {

template <typename P, typename S>
__global__ void adamw_kernel(P* param, S* exp_avg, S* exp_avg_sq, const float* grad, std::int64_t n,
                             adamw::StepScalars s, int* non_finite, std::int64_t first) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = first + static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    if (!adamw::update(param, exp_avg, exp_avg_sq, grad[i], i, s)) atomicOr(non_finite, 1);
  }
}

// 8 consecutive elements per thread through 128-bit loads and stores (the update is memory bound: 16 bytes per
// element with bf16 state).
template <typename T>
struct alignas(8 * sizeof(T)) Pack8 {
  T v[8];
};

template <typename P, typename S>
__global__ void adamw_kernel_x8(P* param, S* exp_avg, S* exp_avg_sq, const float* grad, std::int64_t packs,
                                adamw::StepScalars s, int* non_finite) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t k = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < packs; k += stride) {
    Pack8<P> p = reinterpret_cast<const Pack8<P>*>(param)[k];
    Pack8<S> m = reinterpret_cast<const Pack8<S>*>(exp_avg)[k];
    Pack8<S> v = reinterpret_cast<const Pack8<S>*>(exp_avg_sq)[k];
    const Pack8<float> g = reinterpret_cast<const Pack8<float>*>(grad)[k];
    bool ok = true;
    for (int j = 0; j < 8; ++j) ok &= adamw::update_at(p.v, m.v, v.v, j, 8 * k + j, g.v[j], s);
    reinterpret_cast<Pack8<P>*>(param)[k] = p;
    reinterpret_cast<Pack8<S>*>(exp_avg)[k] = m;
    reinterpret_cast<Pack8<S>*>(exp_avg_sq)[k] = v;
    if (!ok) atomicOr(non_finite, 1);
  }
}

unsigned grid_for(std::int64_t threads_needed, int threads_per_block) {
  const std::int64_t blocks = (threads_needed + threads_per_block - 1) / threads_per_block;
  return static_cast<unsigned>(blocks < 132 * 32 ? blocks : 132 * 32);
}

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

template <typename P, typename S>
void launch(const AdamWLaunch& k) {
  constexpr int kThreads = 256;
  const auto stream = static_cast<cudaStream_t>(k.cuda_stream);
  auto* param = static_cast<P*>(k.param);
  auto* m = static_cast<S*>(k.exp_avg);
  auto* v = static_cast<S*>(k.exp_avg_sq);
  // The packed kernel for the whole 8-element packs of aligned tensors, the plain one for the rest.
  const bool packed = aligned16(param) && aligned16(m) && aligned16(v) && aligned16(k.grad);
  const std::int64_t packs = packed ? k.n / 8 : 0, done = 8 * packs;
  if (packs > 0) {
    adamw_kernel_x8<P, S><<<grid_for(packs, kThreads), kThreads, 0, stream>>>(param, m, v, k.grad, packs, k.scalars,
                                                                              k.non_finite);
  }
  if (done < k.n) {
    adamw::StepScalars s = k.scalars;
    adamw_kernel<P, S><<<grid_for(k.n - done, kThreads), kThreads, 0, stream>>>(param, m, v, k.grad, k.n, s,
                                                                                k.non_finite, done);
  }
}

// launch<P, S> for adamw::by_storage_types (the CUDA sources are C++17: no templated lambdas).
struct Launcher {
  const AdamWLaunch& k;
  template <typename P, typename S>
  void operator()() const {
    launch<P, S>(k);
  }
};

}  // namespace

void logit_adamw_cuda(const AdamWLaunch& k) {
  if (k.n == 0) return;
  adamw::by_storage_types(k.param_bf16, k.state_bf16, Launcher{k});
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw std::runtime_error(std::string("logit AdamW: ") + cudaGetErrorString(e));
}

}  // namespace patchlm
