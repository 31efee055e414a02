// Benchmark: the hybrid dense/2:4 tile GEMM (decode, M ≤ 64 tokens) against cuBLAS bf16 dense and cuSPARSELt 2:4,
// all in the same run on the same GPU (kernels/gemm_benchmark.h; the same as `patchlm bench gemm`).
//   bench_hybrid_gemm [--shapes 4096x4096,...] [--tokens 1,4,16,64] [--sparsity 0,25,35,45,50] [--json out.json]
//                     [--quick] [--verbose]
// Prints per case: µs, achieved TB/s (bytes actually read / time), speedup vs cuBLAS and vs the byte ceiling
// 1/(1 − 0.875σ), the autotuned kernel configuration; cuSPARSELt at σ = 50 %.
#include <cstdio>

#include "cli/bench_gemm_options.h"
#include "util/error.h"

int main(int argc, char** argv) {
  using namespace patchlm;
  CLI::App app{"hybrid dense/2:4 GEMM vs cuBLAS and cuSPARSELt"};
  cli::GemmBenchArgs args;
  cli::add_gemm_bench_options(app, args);
  CLI11_PARSE(app, argc, argv);
  try {
    cli::run_gemm_bench(args);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "bench_hybrid_gemm: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_hybrid_gemm: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
