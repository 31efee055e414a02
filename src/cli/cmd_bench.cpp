// `patchlm bench gemm [--shapes OUTxIN,...] [--tokens 1,4,16,64] [--sparsity 0,25,35,45,50] [--quick] [--json F]`:
// the hybrid dense/2:4 GEMM against cuBLAS and cuSPARSELt on this machine's GPU (kernels/gemm_benchmark.h).
#include <iostream>

#include "cli/command.h"
#include "kernels/gemm_benchmark.h"
#include "util/error.h"
#include "util/json_io.h"

namespace patchlm::cli {

Command add_bench_command(CLI::App& root, const GlobalOptions&) {
  struct Options {
    kernels::GemmBenchOptions gemm;
    std::string shapes, json;
  };
  auto o = std::make_shared<Options>();
  auto* app = root.add_subcommand("bench", "Benchmark this build's GPU kernels (ratios against vendor libraries)");
  app->require_subcommand(1);
  auto* gemm = app->add_subcommand(
      "gemm", "The hybrid dense/2:4 GEMM vs cuBLAS bf16 and cuSPARSELt 2:4, CUDA graphs, weights beyond L2, autotuned");
  gemm->add_option("--shapes", o->shapes, "Weights OUTxIN,... (multiples of 128; default: LLaMA-2-7B / 3.1-8B shapes)");
  gemm->add_option("--tokens", o->gemm.tokens, "Token counts, 1..64")->delimiter(',')->capture_default_str();
  gemm->add_option("--sparsity", o->gemm.sparsities, "Global sparsities in %, 0..50")
      ->delimiter(',')
      ->capture_default_str();
  gemm->add_flag("--quick", o->gemm.quick, "Autotune over the configurations that won on an H200 only");
  gemm->add_flag("--verbose", o->gemm.verbose, "Print the time of every configuration tried");
  gemm->add_option("--json", o->json, "Also write every measurement to this JSON file");
  return {app, [o] {
            if (!o->shapes.empty()) o->gemm.shapes = kernels::parse_gemm_shapes("--shapes", o->shapes);
            nlohmann::ordered_json results = kernels::run_gemm_benchmark(o->gemm);
            if (!o->json.empty()) {
              write_json_file(o->json, results);
              std::cout << "wrote " << o->json << ": " << results.size() << " cases\n";
            }
            return 0;
          }};
}

}  // namespace patchlm::cli
