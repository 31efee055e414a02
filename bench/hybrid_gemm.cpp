// Benchmark: the hybrid dense/2:4 tile GEMM (decode, M ≤ 64 tokens) against cuBLAS bf16 dense and cuSPARSELt 2:4,
// all in the same run on the same GPU (kernels/gemm_benchmark.h; the same as `patchlm bench gemm`).
//   bench_hybrid_gemm [--shapes 4096x4096,...] [--tokens 1,4,16,64] [--sparsity 0,25,35,45,50] [--json out.json]
//                     [--quick] [--verbose]
// Prints per case: µs, achieved TB/s (bytes actually read / time), speedup vs cuBLAS and vs the byte ceiling
// 1/(1 − 0.875σ), the autotuned kernel configuration; cuSPARSELt at σ = 50 %.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "kernels/gemm_benchmark.h"
#include "util/error.h"
#include "util/json_io.h"

int main(int argc, char** argv) {
  using namespace patchlm;
  CLI::App app{"hybrid dense/2:4 GEMM vs cuBLAS and cuSPARSELt"};
  kernels::GemmBenchOptions options;
  std::string shapes, json_path;
  app.add_option("--shapes", shapes, "weights OUTxIN,... (default: LLaMA-2-7B / LLaMA-3.1-8B shapes)");
  app.add_option("--tokens", options.tokens, "token counts (1..64)")->delimiter(',');
  app.add_option("--sparsity", options.sparsities, "global sparsity in % (0..50)")->delimiter(',');
  app.add_option("--json", json_path, "write every measurement here");
  app.add_flag("--quick", options.quick, "autotune over fewer configurations");
  app.add_flag("--verbose", options.verbose, "print the time of every configuration tried");
  CLI11_PARSE(app, argc, argv);
  try {
    if (!shapes.empty()) options.shapes = kernels::parse_gemm_shapes("--shapes", shapes);
    nlohmann::ordered_json results = kernels::run_gemm_benchmark(options);
    if (!json_path.empty()) write_json_file(json_path, results);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "bench_hybrid_gemm: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_hybrid_gemm: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
