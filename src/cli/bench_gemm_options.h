#pragma once
// The command line of the hybrid GEMM benchmark, shared by `patchlm bench gemm` (cli/cmd_bench.cpp) and the
// bench_hybrid_gemm program (bench/hybrid_gemm.cpp), so both take the same flags and do the same work.
#include <string>

#include <CLI/CLI.hpp>

#include "kernels/gemm_benchmark.h"
#include "util/json_io.h"

namespace patchlm::cli {

struct GemmBenchArgs {
  kernels::GemmBenchOptions options;
  std::string shapes, json;
};

// The wgmma kernel's x-multicast switches, for bench gemm and bench e2e alike (A/Bs of the rule in one binary).
inline void add_x_multicast_flags(CLI::App& app, bool& x_multicast, bool& multicast_stream_k) {
  app.add_flag("--x-multicast,!--no-x-multicast", x_multicast,
               "Let the wgmma kernel's rule share x panels in clusters of 2 CTAs (default); --no-x-multicast: the rule "
               "without it, for A/Bs")
      ->capture_default_str();
  app.add_flag("--multicast-stream-k,!--no-multicast-stream-k", multicast_stream_k,
               "Let the rule split the x-multicast split's last wave by stream-K over the clusters (default); "
               "--no-multicast-stream-k: whole cluster tiles only, for A/Bs")
      ->capture_default_str();
}

inline void add_gemm_bench_options(CLI::App& app, GemmBenchArgs& a) {
  app.add_option("--shapes", a.shapes, "Weights OUTxIN,... (multiples of 128; default: LLaMA-2-7B / 3.1-8B shapes)");
  app.add_option("--tokens", a.options.tokens, "Token counts, 1..8192 (the decode kernel is timed up to 512)")->delimiter(',')->capture_default_str();
  app.add_option("--sparsity", a.options.sparsities, "Global sparsities in %, 0..50")
      ->delimiter(',')
      ->capture_default_str();
  app.add_flag("--quick", a.options.quick, "Autotune over the configurations that won on an H200 only");
  app.add_flag("--verbose", a.options.verbose, "Print the time of every configuration tried");
  app.add_flag("--prefill-only", a.options.prefill_only,
               "Time cuBLAS and the wgmma kernel only, not the decode kernel, unpack + cuBLAS or cuSPARSELt");
  app.add_option("--prefill-tile-tokens", a.options.prefill_tile_tokens,
                 "Also time the wgmma kernel at these tokens per output tile (multiples of 8 from 64 to 256), whatever its rule picks")
      ->delimiter(',');
  app.add_option("--prefill-split", a.options.prefill_splits,
                 "Also time the wgmma kernel with its work split forced (whole,stream-k,cluster: the last wave's; "
                 "multicast-2,multicast-4: whole tiles in clusters sharing x; multicast-2-stream-k,multicast-4-stream-k: "
                 "the same, the last wave by stream-K over the clusters), at each --prefill-tile-tokens (or the rule's)")
      ->delimiter(',');
  app.add_option("--settle-ms", a.options.settle_ms,
                 "Run each op this long before timing it (0..10000), so every op is timed at its own steady clocks")
      ->capture_default_str();
  app.add_option("--rounds", a.options.rounds,
                 "Time every op of a case this many times, interleaved (every other round in reverse order), and "
                 "report each op's median round (1..50; JSON: us_by_round), for A/Bs of a few percent")
      ->capture_default_str();
  app.add_option("--prefill-trace", a.options.prefill_trace_dir,
                 "Write the wgmma kernel's per-CTA timeline of each case as JSON into this directory (a build with "
                 "-DPATCHLM_PREFILL_TRACE=ON; scripts/prefill_trace.py reads them)");
  app.add_flag("--dependent-launch,!--no-dependent-launch", a.options.dependent_launch,
               "Launch the hybrid kernels as dependents, each call streaming its first weight tiles while the call "
               "before it finishes, as in a model (default); --no-dependent-launch times every call on its own")
      ->capture_default_str();
  app.add_option("--cluster-split", a.options.cluster_split,
                 "Where the wgmma kernel's rule may split the last wave inside thread-block clusters: graphs (the "
                 "default), always, or never (the rule without it, for A/Bs)")
      ->capture_default_str();
  add_x_multicast_flags(app, a.options.x_multicast, a.options.multicast_stream_k);
  app.add_flag("--eager", a.options.eager,
               "Time every op as eager launches from the host, as the engine's prefill launches them, not in a CUDA "
               "graph (rows then also give the wgmma kernel's host issue time per call)");
  app.add_option("--json", a.json, "Also write every measurement to this JSON file");
}

// Parses --shapes, runs every case (the table goes to stdout) and writes --json if given; returns the measurements.
inline nlohmann::ordered_json run_gemm_bench(GemmBenchArgs& a) {
  if (!a.shapes.empty()) a.options.shapes = kernels::parse_gemm_shapes("--shapes", a.shapes);
  nlohmann::ordered_json results = kernels::run_gemm_benchmark(a.options);
  if (!a.json.empty()) write_json_file(a.json, results);
  return results;
}

}  // namespace patchlm::cli
