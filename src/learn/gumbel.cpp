#include "learn/gumbel.h"

#include <ATen/Parallel.h>

#include <algorithm>

#include "util/error.h"

#if PATCHLM_LEARN_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace patchlm {

std::uint64_t noise_key(std::uint64_t seed, std::int64_t step, std::int64_t micro) {
  return mix64(mix64(seed + kGoldenGamma) ^ mix64(static_cast<std::uint64_t>(step) * 0xbf58476d1ce4e5b9ull + 1) ^
               (static_cast<std::uint64_t>(micro) + 1) * 0x94d049bb133111ebull);
}

std::uint64_t noise_stream(std::uint64_t key, std::size_t layer, NoisePart part) {
  return layer_noise_stream(key, static_cast<std::uint64_t>(layer), static_cast<std::uint64_t>(part));
}

#if PATCHLM_LEARN_CUDA
// gumbel.cu
void counter_gumbel_cuda(std::uint64_t stream, float* out, std::int64_t n, void* cuda_stream);
void counter_gumbel_layers_cuda(std::uint64_t key, std::uint64_t part, const std::int64_t* offsets,
                                std::int64_t layers, float* out, std::int64_t n, void* cuda_stream);
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

at::Tensor counter_gumbel_noise_layers(std::uint64_t key, NoisePart part, const std::vector<std::int64_t>& offsets,
                                       const at::Tensor& device_offsets, const at::TensorOptions& options) {
  if (offsets.empty() || offsets.front() != 0 || !std::is_sorted(offsets.begin(), offsets.end()))
    throw Error("counter Gumbel noise of layers: offsets must start at 0 and not decrease");
  const std::int64_t layers = static_cast<std::int64_t>(offsets.size()) - 1;
  at::Tensor noise = at::empty({offsets.back()}, options.dtype(at::kFloat));
#if PATCHLM_LEARN_CUDA
  if (noise.is_cuda()) {
    if (!device_offsets.defined() || device_offsets.device() != noise.device() ||
        device_offsets.scalar_type() != at::kLong || device_offsets.numel() != layers + 1)
      throw Error("counter Gumbel noise of layers: the offsets are not on the noise's device");
    counter_gumbel_layers_cuda(key, static_cast<std::uint64_t>(part), device_offsets.const_data_ptr<std::int64_t>(),
                               layers, noise.mutable_data_ptr<float>(), noise.numel(),
                               at::cuda::getCurrentCUDAStream(noise.get_device()).stream());
    return noise;
  }
#endif
  if (!noise.is_cpu()) throw Error("counter Gumbel noise of layers: this build draws it on the CPU or CUDA only");
  float* out = noise.data_ptr<float>();
  for (std::int64_t s = 0; s < layers; ++s) {
    const auto stream = noise_stream(key, static_cast<std::size_t>(s), part);
    fill_counter_gumbel(stream, out + offsets[s], offsets[s + 1] - offsets[s]);
  }
  return noise;
}

at::Tensor gumbel_softmax(const at::Tensor& logits, const at::Tensor& noise, double tau) {
  return at::softmax((logits + noise) / tau, -1);
}

}  // namespace patchlm
