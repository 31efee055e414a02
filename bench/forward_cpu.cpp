// Benchmark: CPU forward throughput of a model, tokens per second.
//   bench_forward_cpu MODEL [BATCH] [TOKENS] [REPEATS] [THREADS]
// Token ids are fixed (i * 7919 mod vocab), so transformers can run the same input (see bench/forward_cpu.py).
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "model/decoder.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_forward_cpu MODEL [BATCH] [TOKENS] [REPEATS] [THREADS]\n");
    return 2;
  }
  const std::int64_t batch = argc > 2 ? std::atoll(argv[2]) : 1;
  const std::int64_t tokens = argc > 3 ? std::atoll(argv[3]) : 256;
  const int repeats = argc > 4 ? std::atoi(argv[4]) : 5;
  if (argc > 5) at::set_num_threads(std::atoi(argv[5]));
  patchlm::Decoder model(patchlm::load_checkpoint(argv[1]));
  at::Tensor ids = (at::arange(batch * tokens, at::kLong) * 7919).remainder(model.config().vocab_size).view({batch, tokens});
  c10::InferenceMode inference;
  model.forward(ids);  // warm-up
  auto t = std::chrono::steady_clock::now();
  double checksum = 0;
  for (int i = 0; i < repeats; ++i) checksum += model.forward(ids).sum().item<double>();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  std::printf("patchlm forward: %lld x %lld tokens, %d repeats, %d threads: %.1f tok/s (checksum %.6g)\n",
              static_cast<long long>(batch), static_cast<long long>(tokens), repeats, at::get_num_threads(),
              static_cast<double>(batch * tokens * repeats) / s, checksum);
  return 0;
}
