#include "learn/gumbel.h"

#include <ATen/Parallel.h>

#if PATCHLM_LEARN_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace patchlm {

std::uint64_t noise_key(std::uint64_t seed, std::int64_t step, std::int64_t micro) {
  return mix64(mix64(seed + kGoldenGamma) ^ mix64(static_cast<std::uint64_t>(step) * 0xbf58476d1ce4e5b9ull + 1) ^
               (static_cast<std::uint64_t>(micro) + 1) * 0x94d049bb133111ebull);
}

std::uint64_t noise_stream(std::uint64_t key, std::size_t layer, NoisePart part) {
  return mix64(key ^ mix64((static_cast<std::uint64_t>(layer) * 2 + static_cast<std::uint64_t>(part) + 1) * kGoldenGamma));
}

#if PATCHLM_LEARN_CUDA
void counter_gumbel_cuda(std::uint64_t stream, float* out, std::int64_t n, void* cuda_stream);  // gumbel.cu
#endif

namespace {

template <typename T>
void fill_counter_gumbel(std::uint64_t stream, T* out, std::int64_t n) {
  at::parallel_for(0, n, 1 << 14, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) out[i] = counter_gumbel<T>(stream, static_cast<std::uint64_t>(i));
  });
}

}  // namespace

at::Tensor counter_gumbel_noise(std::uint64_t stream, at::IntArrayRef shape, const at::TensorOptions& options) {
  const at::ScalarType dtype = options.dtype().toScalarType() == at::kDouble ? at::kDouble : at::kFloat;
#if PATCHLM_LEARN_CUDA
  if (options.device().is_cuda() && dtype == at::kFloat) {
    at::Tensor noise = at::empty(shape, options.dtype(at::kFloat));
    counter_gumbel_cuda(stream, noise.mutable_data_ptr<float>(), noise.numel(),
                        at::cuda::getCurrentCUDAStream(noise.get_device()).stream());
    return noise;
  }
#endif
  at::Tensor noise = at::empty(shape, at::TensorOptions().dtype(dtype));
  if (dtype == at::kDouble) fill_counter_gumbel(stream, noise.data_ptr<double>(), noise.numel());
  else fill_counter_gumbel(stream, noise.data_ptr<float>(), noise.numel());
  return noise.to(options.device());
}

at::Tensor gumbel_softmax(const at::Tensor& logits, const at::Tensor& noise, double tau) {
  return at::softmax((logits + noise) / tau, -1);
}

}  // namespace patchlm
