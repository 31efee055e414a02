// CUDA kernels of the fused gated activation (model/gated_activation.h): 8 (bf16) or 4 (fp32) elements per thread
// through 16-byte accesses where the tensors allow, one element otherwise; fp32 math, one rounding per output.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "model/fused_elementwise.cuh"
#include "model/fused_kernels.h"

namespace patchlm {
namespace {

using fused::Pack;
using fused::from_float;
using fused::to_float;

// act(g) and act'(g): SiLU g·σ(g), or GELU's tanh form 0.5·g·(1 + tanh(√(2/π)·(g + 0.044715·g³))).
template <bool kGelu>
__device__ __forceinline__ void activation(float g, float& act, float& slope) {
  if (kGelu) {
    constexpr float kC = 0.7978845608028654f, kA = 0.044715f;
    const float t = tanhf(kC * (g + kA * g * g * g));
    act = 0.5f * g * (1.f + t);
    slope = 0.5f * (1.f + t) + 0.5f * g * (1.f - t * t) * kC * (1.f + 3.f * kA * g * g);
  } else {
    const float sig = 1.f / (1.f + __expf(-g));
    act = g * sig;
    slope = sig * (1.f + g * (1.f - sig));
  }
}

template <typename T, int kWidth, bool kGelu, bool kBackward>
__global__ void gated_kernel(const T* __restrict__ gate, const T* __restrict__ up, const T* __restrict__ grad_out,
                             T* __restrict__ out, T* __restrict__ out_up, std::int64_t packs) {
  using P = Pack<T, kWidth>;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < packs;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const P g = reinterpret_cast<const P*>(gate)[i], u = reinterpret_cast<const P*>(up)[i];
    P r, ru;
    if (kBackward) {
      const P d = reinterpret_cast<const P*>(grad_out)[i];
#pragma unroll
      for (int k = 0; k < kWidth; ++k) {
        float act, slope;
        activation<kGelu>(to_float(g.v[k]), act, slope);
        const float dh = to_float(d.v[k]);
        r.v[k] = from_float<T>(dh * to_float(u.v[k]) * slope);
        ru.v[k] = from_float<T>(dh * act);
      }
      reinterpret_cast<P*>(out_up)[i] = ru;
    } else {
#pragma unroll
      for (int k = 0; k < kWidth; ++k) {
        float act, slope;
        activation<kGelu>(to_float(g.v[k]), act, slope);
        r.v[k] = from_float<T>(act * to_float(u.v[k]));
      }
    }
    reinterpret_cast<P*>(out)[i] = r;
  }
}

template <typename T, int kWidth, bool kGelu>
void launch_width(const GatedActivationLaunch& k, std::int64_t first, std::int64_t count) {
  const std::int64_t packs = count / kWidth;
  if (packs == 0) return;
  constexpr int kBlock = 256;
  const std::int64_t blocks = (packs + kBlock - 1) / kBlock;
  const dim3 grid(static_cast<unsigned>(blocks < 132 * 32 ? blocks : 132 * 32));
  const auto stream = static_cast<cudaStream_t>(k.cuda_stream);
  const T* g = static_cast<const T*>(k.gate) + first;
  const T* u = static_cast<const T*>(k.up) + first;
  T* o = static_cast<T*>(k.out) + first;
  if (k.backward) {
    gated_kernel<T, kWidth, kGelu, true><<<grid, kBlock, 0, stream>>>(
        g, u, static_cast<const T*>(k.grad_out) + first, o, static_cast<T*>(k.out_up) + first, packs);
  } else {
    gated_kernel<T, kWidth, kGelu, false><<<grid, kBlock, 0, stream>>>(g, u, nullptr, o, nullptr, packs);
  }
}

bool aligned16(const void* p) { return p == nullptr || reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

template <typename T, bool kGelu>
void launch_typed(const GatedActivationLaunch& k) {
  constexpr int kWide = 16 / sizeof(T);
  const bool wide = aligned16(k.gate) && aligned16(k.up) && aligned16(k.grad_out) && aligned16(k.out) &&
                    aligned16(k.out_up);
  const std::int64_t done = wide ? k.n / kWide * kWide : 0;
  if (done > 0) launch_width<T, kWide, kGelu>(k, 0, done);
  if (done < k.n) launch_width<T, 1, kGelu>(k, done, k.n - done);
}

}  // namespace

void gated_activation_cuda(const GatedActivationLaunch& k) {
  if (k.n > 0) {
    if (k.bf16) {
      k.gelu_tanh ? launch_typed<__nv_bfloat16, true>(k) : launch_typed<__nv_bfloat16, false>(k);
    } else {
      k.gelu_tanh ? launch_typed<float, true>(k) : launch_typed<float, false>(k);
    }
  }
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) throw std::runtime_error(std::string("gated_activation: ") + cudaGetErrorString(err));
}

}  // namespace patchlm
