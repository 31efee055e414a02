#include "learn/gumbel.h"

#include <ATen/Parallel.h>

namespace patchlm {

std::uint64_t noise_key(std::uint64_t seed, std::int64_t step, std::int64_t micro) {
  return mix64(mix64(seed + kGoldenGamma) ^ mix64(static_cast<std::uint64_t>(step) * 0xbf58476d1ce4e5b9ull + 1) ^
               (static_cast<std::uint64_t>(micro) + 1) * 0x94d049bb133111ebull);
}

std::uint64_t noise_stream(std::uint64_t key, std::size_t layer, NoisePart part) {
  return mix64(key ^ mix64((static_cast<std::uint64_t>(layer) * 2 + static_cast<std::uint64_t>(part) + 1) * kGoldenGamma));
}

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
  at::Tensor noise = at::empty(shape, at::TensorOptions().dtype(dtype));
  if (dtype == at::kDouble) fill_counter_gumbel(stream, noise.data_ptr<double>(), noise.numel());
  else fill_counter_gumbel(stream, noise.data_ptr<float>(), noise.numel());
  return noise.to(options.device());
}

at::Tensor gumbel_softmax(const at::Tensor& logits, const at::Tensor& noise, double tau) {
  return at::softmax((logits + noise) / tau, -1);
}

}  // namespace patchlm
