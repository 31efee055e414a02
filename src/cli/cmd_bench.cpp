// `patchlm bench gemm ...`: the hybrid dense/2:4 GEMM against cuBLAS and cuSPARSELt on this machine's GPU
// (kernels/gemm_benchmark.h). `patchlm bench e2e ...`: whole-model generation on the engine against transformers'
// generate (engine/e2e_benchmark.h). `patchlm bench learn ...`: a PATCH learning step against the reference approach
// (learn/learn_benchmark.h).
#include <iostream>
#include <sstream>

#include "cli/bench_gemm_options.h"
#include "cli/command.h"
#include "engine/e2e_benchmark.h"
#include "learn/learn_benchmark.h"
#include "util/error.h"
#include "util/output_paths.h"

namespace patchlm::cli {
namespace {

struct E2eArgs {
  E2eBenchOptions options;
  std::string shapes = "llama-2-7b,llama-3.1-8b", models, json;
  bool no_baseline = false;
};

void add_e2e_options(CLI::App& app, E2eArgs& a) {
  app.add_option("--shapes", a.shapes, "Random-weight shapes: llama-2-7b, llama-3.1-8b, or none")->capture_default_str();
  app.add_option("--models", a.models, "Also these models (HF dir, GGUF, hybrid checkpoint), comma-separated");
  app.add_option("--sparsity", a.options.sparsities, "σ in % for the random shapes (PATCH-like tiles), 0..50")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--batch", a.options.batches, "Batch sizes")->delimiter(',')->capture_default_str();
  app.add_option("--prompt", a.options.prompts, "Prompt tokens per sequence (several: each a case of every model)")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--new-tokens", a.options.new_tokens, "Generated tokens per sequence")->capture_default_str();
  app.add_flag("--no-baseline", a.no_baseline, "Do not time transformers' generate");
  app.add_flag("--dependent-launch,!--no-dependent-launch", a.options.dependent_launch,
               "Launch the GEMM kernels as dependents of the kernel before them (default); --no-dependent-launch: "
               "after it, as cuBLAS's are")
      ->capture_default_str();
  app.add_option("--cluster-split", a.options.cluster_split,
                 "Where the wgmma kernel's rule may split the last wave inside thread-block clusters: graphs (the "
                 "engine's decode and short prefill passes; default), always (every eager launch too) or never")
      ->capture_default_str();
  add_x_multicast_flags(app, a.options.x_multicast, a.options.multicast_stream_k);
  app.add_option("--graph-prefill-tokens", a.options.graph_prefill_tokens,
                 "One-prompt prefill passes of up to this many tokens replay a CUDA graph (0: all eager)")
      ->capture_default_str();
  app.add_option("--rounds", a.options.rounds,
                 "Time every model this many rounds (every other round in reverse order), each figure's median round; "
                 "ratios to the dense model are medians of same-round ratios (1..20)")
      ->capture_default_str();
  app.add_option("--python", a.options.python, "Python with torch + transformers for the baseline")->capture_default_str();
  app.add_option("--baseline-script", a.options.baseline_script, "Path of bench/e2e_transformers.py");
  app.add_option("--json", a.json, "Also write every row to this JSON file");
}

struct LearnArgs {
  LearnBenchOptions options;
  std::string mode = "joint", json;
  bool no_baseline = false;
};

void add_learn_options(CLI::App& app, LearnArgs& a) {
  app.add_option("--mode", a.mode, "joint | tile | maskllm")->capture_default_str();
  app.add_option("--shape", a.options.shape, "Random-weight shape: llama-3.2-1b, llama-2-7b, llama-3.1-8b, smollm2-135m")
      ->capture_default_str();
  app.add_option("--device", a.options.device, "cpu or cuda[:N] (default: cuda when present)");
  app.add_option("--seq", a.options.seq, "Tokens per sequence")->capture_default_str();
  app.add_option("--micro", a.options.micros, "Micro-batch sizes (sequences per forward pass)")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--steps", a.options.steps, "Timed steps per micro-batch size (one more warms up)")->capture_default_str();
  app.add_option("--state-dtype", a.options.state_dtype, "2:4 logits and AdamW moments: fp32 or bf16")
      ->capture_default_str();
  app.add_option("--checkpoint-blocks", a.options.checkpoint_blocks,
                 "Blocks under activation checkpointing, from the first (-1: all, as the reference)")
      ->capture_default_str();
  app.add_option("--peak-tflops", a.options.peak_tflops, "The device's dense bf16 TFLOP/s, for MFU")->capture_default_str();
  app.add_flag("--no-baseline", a.no_baseline, "Do not run the reference approach");
  app.add_option("--python", a.options.python, "Python with torch + transformers for the reference")->capture_default_str();
  app.add_option("--baseline-script", a.options.baseline_script, "Path of bench/learn_reference.py");
  app.add_option("--json", a.json, "Also write every row to this JSON file");
  app.add_flag("--shard-masks", a.options.shard_masks,
               "Launched by torchrun / patchlm launch: shard the 2:4 logits and moments over the ranks");
  app.add_option("--dist-timeout", a.options.dist_timeout_s, "Launched runs: seconds a collective may wait")
      ->capture_default_str();
  app.add_option("--profile", a.options.profile,
                 "Profile one extra step: Chrome trace to this file, the longest device kernels printed");
}

// A benchmark's rows as JSON, when --json was given.
void write_rows(const std::string& path, const nlohmann::ordered_json& rows) {
  if (path.empty()) return;
  write_json_file(path, rows);
  std::cout << "wrote " << path << ": " << rows.size() << " rows\n";
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace

Command add_bench_command(CLI::App& root, const GlobalOptions&) {
  auto gemm_args = std::make_shared<GemmBenchArgs>();
  auto e2e_args = std::make_shared<E2eArgs>();
  auto learn_args = std::make_shared<LearnArgs>();
  auto* app = root.add_subcommand("bench", "Benchmark this build's GPU kernels and engine (ratios against vendor libraries)");
  app->require_subcommand(1);
  auto* gemm = app->add_subcommand(
      "gemm", "The hybrid dense/2:4 GEMM vs cuBLAS bf16 and cuSPARSELt 2:4, CUDA graphs, weights beyond L2, autotuned");
  add_gemm_bench_options(*gemm, *gemm_args);
  auto* e2e = app->add_subcommand(
      "e2e", "Whole-model prefill and decode tokens/s on the engine, dense and hybrid, vs transformers' generate");
  add_e2e_options(*e2e, *e2e_args);
  auto* learn = app->add_subcommand(
      "learn", "A PATCH learning step on a random-weight shape: tokens/s, peak memory, MFU, vs the reference approach");
  add_learn_options(*learn, *learn_args);
  return {app, [gemm, e2e, learn, gemm_args, e2e_args, learn_args] {
            const std::string& json_out = gemm->parsed() ? gemm_args->json
                                          : learn->parsed() ? learn_args->json
                                                            : e2e_args->json;
            if (!json_out.empty()) check_output_file(json_out, "--json");
            if (gemm->parsed()) {
              nlohmann::ordered_json results = run_gemm_bench(*gemm_args);
              if (!gemm_args->json.empty()) std::cout << "wrote " << gemm_args->json << ": " << results.size() << " cases\n";
              return 0;
            }
            if (learn->parsed()) {
              LearnArgs& l = *learn_args;
              l.options.mode = parse_mask_mode(l.mode);
              l.options.baseline = !l.no_baseline;
              validate_learn_bench(l.options);
              const nlohmann::ordered_json rows = run_learn_benchmark(l.options);
              if (!rows.empty()) write_rows(l.json, rows);  // rank 0 of a launched run
              return 0;
            }
            (void)e2e;
            E2eArgs& a = *e2e_args;
            a.options.shapes = split(a.shapes);
            a.options.models = split(a.models);
            a.options.baseline = !a.no_baseline;
            validate_e2e_bench(a.options);
            write_rows(a.json, run_e2e_benchmark(a.options));
            return 0;
          }};
}

}  // namespace patchlm::cli
