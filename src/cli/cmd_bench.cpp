// `patchlm bench gemm [--shapes OUTxIN,...] [--tokens 1,4,16,64] [--sparsity 0,25,35,45,50] [--quick] [--json F]`:
// the hybrid dense/2:4 GEMM against cuBLAS and cuSPARSELt on this machine's GPU (kernels/gemm_benchmark.h).
#include <iostream>

#include "cli/bench_gemm_options.h"
#include "cli/command.h"

namespace patchlm::cli {

Command add_bench_command(CLI::App& root, const GlobalOptions&) {
  auto args = std::make_shared<GemmBenchArgs>();
  auto* app = root.add_subcommand("bench", "Benchmark this build's GPU kernels (ratios against vendor libraries)");
  app->require_subcommand(1);
  auto* gemm = app->add_subcommand(
      "gemm", "The hybrid dense/2:4 GEMM vs cuBLAS bf16 and cuSPARSELt 2:4, CUDA graphs, weights beyond L2, autotuned");
  add_gemm_bench_options(*gemm, *args);
  return {app, [args] {
            nlohmann::ordered_json results = run_gemm_bench(*args);
            if (!args->json.empty()) std::cout << "wrote " << args->json << ": " << results.size() << " cases\n";
            return 0;
          }};
}

}  // namespace patchlm::cli
