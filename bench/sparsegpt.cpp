// Benchmark: SparseGPT on one layer (default 4096 x 4096, the LLaMA-7B attention shape), 2:4 and unstructured 50 %.
//   bench_sparsegpt [ROWS] [COLS] [DEVICE cpu|cuda] [TOKENS]
// Prints seconds per layer; bench/sparsegpt.py runs the paper-style Python reference on the same problem and
// prints the ratio.
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "prune/sparsegpt.h"

namespace {

void synchronize(const at::Tensor& t) { t.sum().item<double>(); }

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t rows = argc > 1 ? std::atoll(argv[1]) : 4096, cols = argc > 2 ? std::atoll(argv[2]) : 4096;
  const std::string device = argc > 3 ? argv[3] : "cpu";
  const std::int64_t tokens = argc > 4 ? std::atoll(argv[4]) : 4096;
  c10::InferenceMode inference;
  at::manual_seed(0);
  const auto opts = at::TensorOptions().dtype(at::kFloat).device(device);
  const at::Tensor W = at::randn({rows, cols}, opts);
  const at::Tensor X = at::randn({tokens, cols}, opts) * (at::rand({cols}, opts) * 3 + 0.1);
  const at::Tensor H = at::mm(X.t(), X) * (2.0 / static_cast<double>(tokens));
  synchronize(H);
  for (const char* name : {"2:4", "unstructured"}) {
    const patchlm::SparsityPattern pattern = patchlm::parse_pattern(name, 0.5);
    synchronize(patchlm::sparsegpt(W.slice(0, 0, 256), H, pattern, {}, {}).weight);  // warm-up
    const auto t = std::chrono::steady_clock::now();
    const patchlm::SparseGptResult r = patchlm::sparsegpt(W, H, pattern, {}, {});
    synchronize(r.weight);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    std::printf("patchlm sparsegpt %s %lldx%lld on %s: %.3f s\n", name, static_cast<long long>(rows),
                static_cast<long long>(cols), device.c_str(), s);
  }
  return 0;
}
