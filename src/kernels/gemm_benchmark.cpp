#include "kernels/gemm_benchmark.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <string_view>

#include "kernels/gpu_clocks.h"
#include "kernels/prefill_trace.h"
#include "kernels/prefill_work.h"
#include "util/error.h"
#include "util/json_io.h"

#if PATCHLM_HAVE_CUDA
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime.h>

#include "kernels/dependent_launch.h"
#include "kernels/hybrid_gemm.h"
#include "kernels/hybrid_linear.h"
#endif

namespace patchlm::kernels {

#if PATCHLM_HAVE_CUDA
namespace {

// Median µs per call of op(copy) over a CUDA graph that runs every copy `rounds` times, timed after the graph has
// run for `settle_ms`: the op before it (cuBLAS at full tensor throughput) can leave the clocks low for longer than a
// warm-up call — measured on an H200, the first kernel timed after cuBLAS ran 3.5 % slower on average (up to 20 %)
// than the same kernel timed again later in the same case (docs/performance.md, step 18).
// eager (--eager): the same calls launched one by one from the host instead, as the engine's prefill launches them,
// timed by events around the loop; *host_us then gets the host's median time to issue one call (where it exceeds the
// device time, the host paces the GPU). *clocks gets the SM clock and power sampled over the second half of the settling
// and the timing (kernels/gpu_clocks.h: at the power limit each op runs at the clock its own draw allows), where
// `sampler` can read them.
double time_op(const std::function<void(int)>& op, int copies, double settle_ms, bool eager, double* host_us = nullptr,
               GpuClockSampler* sampler = nullptr, ClockSample* clocks = nullptr) {
  at::cuda::CUDAStream stream = at::cuda::getStreamFromPool();
  at::cuda::CUDAStreamGuard guard(stream);
  for (int c = 0; c < copies; ++c) op(c);  // warm up: lazy init, autotune caches, smem attributes
  stream.synchronize();
  const int rounds = std::max(1, 240 / copies);
  at::cuda::CUDAGraph graph;
  const auto run = [&] {
    if (!eager) return graph.replay();
    for (int r = 0; r < rounds; ++r)
      for (int c = 0; c < copies; ++c) op(c);
  };
  if (!eager) {
    graph.capture_begin();
    for (int r = 0; r < rounds; ++r)
      for (int c = 0; c < copies; ++c) op(c);
    graph.capture_end();
  }
  const bool sample = sampler != nullptr && clocks != nullptr;
  bool sampling = false;
  const auto settle_start = std::chrono::steady_clock::now();
  for (;;) {  // at least once; sampling has started by the time settling ends
    run();
    stream.synchronize();
    const double settled_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - settle_start).count();
    if (sample && !sampling && settled_ms >= settle_ms / 2) sampler->start(), sampling = true;
    if (settled_ms >= settle_ms) break;
  }
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  std::vector<double> us, host;
  for (int k = 0; k < 7; ++k) {
    cudaEventRecord(start, stream.stream());
    const auto issue_start = std::chrono::steady_clock::now();
    run();
    host.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - issue_start).count() /
                   (rounds * copies));
    cudaEventRecord(stop, stream.stream());
    cudaEventSynchronize(stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    us.push_back(1000.0 * ms / (rounds * copies));
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  if (sample) *clocks = sampler->stop();
  if (host_us) *host_us = host[median_index(host)];
  return us[median_index(us)];
}

// One timing of one op: µs per call, the host's µs to issue one (eager prefill only) and its clocks where sampled.
struct OpReading {
  double us = 0, host_us = 0;
  ClockSample clocks;
};

// One op of a case, named by its key in the JSON's us_by_round; the forced tokens per tile and the forced splits are
// keyed under these prefixes, which their own JSON objects drop.
constexpr std::string_view kTileTokensKey = "tile_tokens/", kVariantKey = "variant/";
struct TimedOp {
  std::string key;
  std::function<void(OpReading&)> time;
};

// An op's timings over the rounds and the median round's reading.
struct OpRounds {
  std::vector<double> us;
  OpReading median;
};

// Times every op `rounds` times, a round being one timing of each op in interleaved_round_order, and keeps each op's
// median round: so that two variants compared in one process are timed alike across the minutes the case takes
// (at the power limit one reading of an op carries up to ~13 % between two readings, docs/performance.md step 31).
std::vector<OpRounds> time_interleaved(const std::vector<TimedOp>& ops, int rounds) {
  std::vector<OpRounds> out(ops.size());
  std::vector<std::vector<OpReading>> readings(ops.size());
  for (int r = 0; r < rounds; ++r)
    for (int i : interleaved_round_order(r, static_cast<int>(ops.size()))) {
      OpReading reading;
      ops[i].time(reading);
      readings[i].push_back(reading);
      out[i].us.push_back(reading.us);
    }
  for (std::size_t i = 0; i < ops.size(); ++i) out[i].median = readings[i][median_index(out[i].us)];
  return out;
}

// cuSPARSELt on the compressed fully-2:4 weights, x padded to 16 tokens as it requires; algorithm from its search.
double time_cusparselt(const std::vector<at::Tensor>& compressed, const at::Tensor& x, double settle_ms, bool eager,
                       GpuClockSampler* sampler, ClockSample* clocks) {
  const std::int64_t m = x.size(0);
  at::Tensor xp = at::zeros({std::max<std::int64_t>(16, (m + 15) / 16 * 16), x.size(1)}, x.options());
  xp.narrow(0, 0, m).copy_(x);
  std::int64_t alg = 0;
  try {
    alg = at::_cslt_sparse_mm_search(compressed[0], xp.t(), {}, {}, {}, true);
  } catch (const std::exception&) {  // no search in this build: the default algorithm
  }
  return time_op(
      [&](int c) {
        at::_cslt_sparse_mm(compressed[c], xp.t(), {}, {}, {},
                            /*transpose_result=*/true, alg);
      },
      static_cast<int>(compressed.size()), settle_ms, eager, nullptr, sampler, clocks);
}

// --prefill-split's names (checked by validate); "rule" (and any other name) is the rule.
PrefillSplit prefill_split_named(const std::string& name) {
  PrefillSplit split = PrefillSplit::rule;
  forced_prefill_split(name, split);
  return split;
}

#if PATCHLM_PREFILL_TRACE
// The wgmma kernel's per-CTA timeline (kernels/prefill_trace.h) at the rule's tokens per tile and each forced one, with
// the rule's split and each forced one: one call on weight copy 0 after a call on every other copy (as cold as in the
// timed graph, but not inside one), written to `dir` as trace_<rows>x<cols>_m<tokens>_s<σ>_<n or rule>[_<split>].json
// with the call's work split. Eager calls: the rule's split is an eager launch's (prefill_rule_model).
void write_prefill_traces(const GemmBenchOptions& o, const GemmShape& s, int sigma, int m, const at::Tensor& x,
                          std::vector<HybridWeight>& ws) {
  std::vector<int> forced{0};
  forced.insert(forced.end(), o.prefill_tile_tokens.begin(), o.prefill_tile_tokens.end());
  std::vector<std::string> splits{"rule"};
  splits.insert(splits.end(), o.prefill_splits.begin(), o.prefill_splits.end());
  for (int n : forced)
    for (const std::string& split_name : splits) {
      const PrefillSplit split = prefill_split_named(split_name);  // "rule": the rule
      for (auto& w : ws) w.prefill_tokens_per_tile = n, w.prefill_split = split;
      for (std::size_t c = 1; c < ws.size(); ++c) hybrid_linear_prefill_kernel(x, ws[c]);
      prefill_trace_take();
      hybrid_linear_prefill_kernel(x, ws[0]);
      const std::vector<std::uint64_t> events = prefill_trace_take();
      for (auto& w : ws) w.prefill_tokens_per_tile = 0, w.prefill_split = PrefillSplit::rule;
      const int sms = ws[0].multiprocessors;
      const PrefillCostModel eager = prefill_rule_model(prefill_rule_inputs(false, ws[0].two_four_tile_share));
      const int tokens_per_tile = n != 0 ? n : prefill_tokens_per_tile(128, 128, m, s.rows, s.cols, sms, eager);
      const PrefillWork work = prefill_work(m, tokens_per_tile, s.rows, s.cols, 128, 128, sms, split, eager);
      const nlohmann::ordered_json trace = {
          {"gpu", at::cuda::getCurrentDeviceProperties()->name}, {"rows", s.rows}, {"cols", s.cols}, {"tokens", m},
          {"sparsity", sigma}, {"tokens_per_tile", tokens_per_tile},
          {"forced", n != 0}, {"split", split_name}, {"ctas", work.ctas}, {"full_waves", work.full_waves},
          {"tail_tiles", work.tail_tiles}, {"split_tail", work.split_tail}, {"stream_ctas", work.stream_ctas},
          {"cluster", work.cluster}, {"multicast", work.multicast}, {"steps_per_tile", work.tiles}, {"events_per_cta", kTraceEvents}, {"events", events}};
      write_json_file(std::filesystem::path(o.prefill_trace_dir) /
                          str_cat("trace_", s.rows, "x", s.cols, "_m", m, "_s", sigma, "_", n != 0 ? std::to_string(n) : "rule",
                                  split_name == "rule" ? "" : "_" + split_name, ".json"),
                      trace);
    }
}
#endif

struct Config {
  int tile_rows, tile_cols, ctas_per_sm, stages;
  std::string str() const {
    return std::to_string(tile_rows) + "x" + std::to_string(tile_cols) + "/" + std::to_string(ctas_per_sm) + "cta/" +
           std::to_string(stages) + "st";
  }
};

// Packing tile × CTAs per SM × ring depth; --quick: the configurations that won some case on an H200
// (docs/performance.md).
std::vector<Config> candidate_configs(bool quick) {
  std::vector<Config> configs;
  for (auto [tr, tc] : {std::pair<int, int>{128, 128}, {128, 64}, {64, 128}, {64, 64}})
    for (int per_sm : {1, 2, 3, 4, 6})
      for (int stages : {3, 4, 6, 8}) {
        bool winner = (tr == 128 && tc == 128 &&
                       ((per_sm == 1 && (stages == 3 || stages == 4)) || (per_sm == 2 && stages == 3))) ||
                      (tr == 128 && tc == 64 && per_sm == 3 && stages == 4) ||
                      (tr == 64 && tc == 128 && ((per_sm == 2 && stages == 4) || (per_sm >= 3 && stages == 3))) ||
                      (tr == 64 && tc == 64 && per_sm == 6 && stages == 4);
        if (quick && !winner) continue;
        configs.push_back({tr, tc, per_sm, stages});
      }
  return configs;
}

}  // namespace

nlohmann::ordered_json run_gemm_benchmark(const GemmBenchOptions& options) {
  validate_gemm_bench(options);
  if (!at::cuda::is_available()) throw Error("bench gemm needs a CUDA device; none is visible");
  if (!options.prefill_trace_dir.empty()) {
    std::error_code e;
    std::filesystem::create_directories(options.prefill_trace_dir, e);
    if (e) throw Error(str_cat("--prefill-trace: cannot create ", in_quotes(options.prefill_trace_dir), ": ", e.message()));
  }
  at::Device cuda("cuda:0");
  const cudaDeviceProp* prop = at::cuda::getCurrentDeviceProperties();
  const int sms = prop->multiProcessorCount;
  const double l2 = prop->l2CacheSize;
  // The SM clock and power of the ops below, where the driver's NVML can read them (no samples elsewhere).
  char bus_id[32] = {};
  if (cudaDeviceGetPCIBusId(bus_id, sizeof bus_id, at::cuda::current_device()) != cudaSuccess) (void)cudaGetLastError();
  GpuClockSampler sampler(bus_id);
  // The JSON's figures of one op's clocks: {"sm_mhz", "power_w", "power"} — medians; "power": "instant", or "1 s
  // average" where NVML has no instantaneous reading (then power_w trails the op by up to a second) — or null where
  // none were sampled.
  const auto clocks_json = [](const ClockSample& c) {
    return c.samples > 0 ? nlohmann::ordered_json{{"sm_mhz", c.sm_mhz},
                                                  {"power_w", c.power_w},
                                                  {"power", c.power_instant ? "instant" : "1 s average"}}
                         : nlohmann::ordered_json();
  };
  // The prefill rule's picks are those of a launch captured into a graph, or of an eager one (--eager).
  set_cluster_split_use(cluster_split_use_option(options.cluster_split));
  set_prefill_multicast_use(options.x_multicast);
  set_prefill_multicast_stream_k_use(options.multicast_stream_k);
  set_dependent_launch(options.dependent_launch);
  std::printf(
      "GPU: %s, %d SMs, L2 %.0f MB; weights rotated beyond 4x L2; %s; median of 7%s; hybrid kernels %s; cluster "
      "split: %s; x multicast: %s%s\n",
      prop->name, sms, l2 / 1e6, options.eager ? "eager launches from the host" : "CUDA graphs",
      options.rounds > 1 ? str_cat(", median round of ", options.rounds, " interleaved").c_str() : "",
      options.dependent_launch ? "as dependent launches" : "each on its own (no dependent launch)", options.cluster_split.c_str(),
      options.x_multicast ? "on" : "off", options.x_multicast && !options.multicast_stream_k ? " (last wave whole)" : "");
  const std::vector<Config> configs = candidate_configs(options.quick);
  // A configuration is tried for M tokens when all its CTAs fit on the SMs at once with the ring depth asked for.
  const std::int64_t sm_bytes = device_shared_bytes_per_multiprocessor();
  auto fits = [&](const Config& c, int m) {
    return hybrid_stages_that_fit(c.tile_rows, c.tile_cols, m, c.stages, c.ctas_per_sm, sm_bytes) == c.stages;
  };

  nlohmann::ordered_json results = nlohmann::ordered_json::array();
  std::printf("%-11s %4s %4s | %8s %6s | %8s %6s %-16s | %8s | %8s | %-20s %7s %7s %6s | %9s %7s\n", "W", "M", "σ%",
              "cuBLAS", "TB/s", "kernel", "TB/s", "config", "wgmma", "unpack", "path", "speedup", "ceiling", "of",
              "cuSPARSELt", "hyb/cslt");
  for (const GemmShape& s : options.shapes) {
    const double dense_bytes = 2.0 * static_cast<double>(s.rows * s.cols);
    const int dense_copies = static_cast<int>(std::ceil(4 * l2 / dense_bytes)) + 1;
    auto bf16 = at::TensorOptions().dtype(at::kBFloat16).device(cuda);
    std::vector<at::Tensor> dense;
    for (int c = 0; c < dense_copies; ++c) dense.push_back(at::randn({s.rows, s.cols}, bf16) * 0.02);
    std::vector<std::uint16_t> bits(static_cast<std::size_t>(s.rows * s.cols));
    {
      at::Tensor host = dense[0].cpu().contiguous();
      std::memcpy(bits.data(), host.data_ptr(), bits.size() * 2);
    }
    for (int sigma : options.sparsities) {
      const double share = 2.0 * sigma / 100.0;
      // The process's switches were set from the options above.
      const PrefillCostModel rule = prefill_rule_model(prefill_rule_inputs(!options.eager, share));
      std::vector<std::uint8_t> keep = patch_like_mask(s.rows, s.cols, share, 1000 + sigma);
      std::map<std::pair<int, int>, hybrid::PackedHybrid> packs;
      for (const Config& c : configs)
        if (!packs.count({c.tile_rows, c.tile_cols}) && (!options.prefill_only || (c.tile_rows == 128 && c.tile_cols == 128)))
          packs.emplace(std::pair{c.tile_rows, c.tile_cols},
                        hybrid::pack(bits.data(), keep.data(), {s.rows, s.cols, {c.tile_rows, c.tile_cols}}));
      const double packed_bytes = static_cast<double>(packs.begin()->second.data.size());
      const int copies = static_cast<int>(std::ceil(4 * l2 / packed_bytes)) + 1;
      std::map<std::pair<int, int>, std::vector<HybridWeight>> weights;
      for (auto& [tile, packed] : packs)
        for (int c = 0; c < copies; ++c) weights[tile].push_back(upload_hybrid(packed, cuda));
      if (options.prefill_only && !weights.at({128, 128})[0].prefill_kernel)
        throw Error("--prefill-only: this device runs no wgmma prefill kernel (compute capability 9.0 needed)");

      // cuSPARSELt on the fully 2:4 weight (σ = 50 %).
      std::vector<at::Tensor> cslt;
      if (sigma == 50) {
        at::Tensor wm = at::from_blob(bits.data(), {s.rows, s.cols}, at::kBFloat16).to(cuda) *
                        at::from_blob(keep.data(), {s.rows, s.cols}, at::kByte).to(cuda).to(at::kBFloat16);
        try {
          for (int c = 0; c < copies; ++c) cslt.push_back(at::_cslt_compress(wm));
        } catch (const std::exception& e) {
          std::printf("cuSPARSELt unavailable: %s\n", e.what());
        }
      }

      for (int m : options.tokens) {
        at::Tensor x = at::randn({m, s.cols}, bf16);
        at::Tensor y = at::empty({m, s.rows}, bf16);
        // The decode kernel, autotuned, up to kMaxKernelBenchTokens (past that it runs M / 64 chunks of 64 and only
        // gets slower than the unpacked path); then the unpacked weight on cuBLAS; the dispatch takes one of them.
        double best_us = 0;
        Config best{};
        const auto time_decode = [&](const Config& cfg, double settle_ms) {
          auto& ws = weights[{cfg.tile_rows, cfg.tile_cols}];
          for (auto& w : ws) reschedule(w, packs.at({cfg.tile_rows, cfg.tile_cols}), cfg.ctas_per_sm * sms, cfg.stages);
          return time_op([&](int c) { hybrid_linear_decode_kernel(x, ws[c]); }, copies, settle_ms, options.eager);
        };
        if (m <= kMaxKernelBenchTokens && !options.prefill_only) {
          best_us = 1e30;
          for (const Config& cfg : configs) {
            if (!fits(cfg, std::min(m, kHybridMaxTokens))) continue;
            const double us = time_decode(cfg, 0);
            if (options.verbose) std::printf("    %-20s %8.2f us\n", cfg.str().c_str(), us);
            if (us < best_us) best_us = us, best = cfg;
          }
          if (best_us >= 1e30) best_us = 0;
        }
        auto& ws128 = weights[{128, 128}];
        // The wgmma kernel with tokens per tile (0: the rule's) and the last wave's split as given, then back to the rule.
        const auto time_prefill = [&](int n, PrefillSplit split, OpReading& r) {
          for (auto& w : ws128) w.prefill_tokens_per_tile = n, w.prefill_split = split;
          r.us = time_op([&](int c) { hybrid_linear_prefill_kernel(x, ws128[c]); }, copies, options.settle_ms, options.eager,
                         &r.host_us, &sampler, &r.clocks);
          for (auto& w : ws128) w.prefill_tokens_per_tile = 0, w.prefill_split = PrefillSplit::rule;
        };
        // Every op this case times, in the order of a forward round (interleaved_round_order).
        std::vector<TimedOp> ops;
        ops.push_back({"cublas", [&](OpReading& r) {
                         r.us = time_op([&](int c) { at::mm_out(y, x, dense[c % dense_copies].t()); }, dense_copies,
                                        options.settle_ms, options.eager, nullptr, &sampler, &r.clocks);
                       }});
        // The autotune's pick timed again as every other op is, after settling (the search itself does not).
        if (best_us > 0 && options.settle_ms > 0)
          ops.push_back({"decode", [&](OpReading& r) { r.us = time_decode(best, options.settle_ms); }});
        if (!options.prefill_only)
          ops.push_back({"unpack", [&](OpReading& r) {
                           r.us = time_op([&](int c) { hybrid_linear_unpacked(x, ws128[c]); }, copies, options.settle_ms,
                                          options.eager);
                         }});
        if (ws128[0].prefill_kernel) {
          ops.push_back({"prefill", [&](OpReading& r) { time_prefill(0, PrefillSplit::rule, r); }});
          // The wgmma kernel at forced tokens per tile (the rule's choice is "prefill") ...
          for (int n : options.prefill_tile_tokens)
            ops.push_back({str_cat(kTileTokensKey, n), [&, n](OpReading& r) { time_prefill(n, PrefillSplit::rule, r); }});
          // ... and with the last wave's split forced, at each forced tokens per tile or the rule's ("rule/whole").
          std::vector<int> ns = options.prefill_tile_tokens;
          if (ns.empty()) ns.push_back(0);
          if (!options.prefill_splits.empty())
            for (int n : ns)
              for (const std::string& split : options.prefill_splits)
                ops.push_back({str_cat(kVariantKey, n != 0 ? std::to_string(n) : "rule", "/", split),
                               [&, n, split](OpReading& r) { time_prefill(n, prefill_split_named(split), r); }});
        }
        if (!cslt.empty() && !options.prefill_only)
          ops.push_back({"cusparselt", [&](OpReading& r) {
                           r.us = time_cusparselt(cslt, x, options.settle_ms, options.eager, &sampler, &r.clocks);
                         }});
        const std::vector<OpRounds> timed = time_interleaved(ops, options.rounds);
        // Each op's median reading by its key; an op this case did not time reads as zero (no µs, no clocks).
        const OpReading not_timed;
        const auto reading = [&](std::string_view key) -> const OpReading& {
          for (std::size_t i = 0; i < ops.size(); ++i)
            if (ops[i].key == key) return timed[i].median;
          return not_timed;
        };
        const OpReading &cublas = reading("cublas"), &decode = reading("decode"), &unpack = reading("unpack"),
                        &prefill = reading("prefill"), &cusparselt = reading("cusparselt");
        if (decode.us > 0) best_us = decode.us;
        const double dense_us = cublas.us, unpack_us = unpack.us, prefill_us = prefill.us, prefill_host_us = prefill.host_us;
        nlohmann::ordered_json by_tile_tokens = nlohmann::ordered_json::object(), by_variant = by_tile_tokens,
                               clocks_by_variant = by_tile_tokens, us_by_round = by_tile_tokens;
        for (std::size_t i = 0; i < ops.size(); ++i) {
          const std::string& key = ops[i].key;
          if (key.starts_with(kTileTokensKey)) by_tile_tokens[key.substr(kTileTokensKey.size())] = timed[i].median.us;
          if (key.starts_with(kVariantKey)) {
            by_variant[key.substr(kVariantKey.size())] = timed[i].median.us;
            clocks_by_variant[key.substr(kVariantKey.size())] = clocks_json(timed[i].median.clocks);
          }
          us_by_round[key] = timed[i].us;
        }
#if PATCHLM_PREFILL_TRACE
        if (!options.prefill_trace_dir.empty() && ws128[0].prefill_kernel)
          write_prefill_traces(options, s, sigma, m, x, ws128);
#endif
        HybridPath chosen = ws128[0].path_for(m);
        if (chosen == HybridPath::decode_kernel && best_us == 0 && !options.prefill_only)
          chosen = HybridPath::unpacked;  // not timed past 512
        // --prefill-only: the wgmma kernel stands in for a path that was not timed (the row's `dispatched` says which).
        const double dispatched_us = chosen == HybridPath::decode_kernel && best_us > 0 ? best_us
                                     : chosen == HybridPath::unpacked && unpack_us > 0  ? unpack_us
                                                                                        : prefill_us;
        const double cslt_us = cusparselt.us;
        const double hybrid_bytes = packed_bytes + 2.0 * m * (s.cols + s.rows);
        const double ceiling = 1.0 / (1.0 - 0.875 * sigma / 100.0);
        const double speedup = dense_us / dispatched_us;
        char kernel_text[32] = "-", kernel_bw[16] = "-";
        if (best_us > 0) {
          std::snprintf(kernel_text, sizeof kernel_text, "%.2f", best_us);
          std::snprintf(kernel_bw, sizeof kernel_bw, "%.2f", hybrid_bytes / best_us / 1e6);
        }
        std::printf("%5lldx%-5lld %4d %4d | %8.2f %6.2f | %8s %6s %-16s | %8.2f | %8.2f | %-20s %6.3fx %6.3fx %5.1f%% | ",
                    static_cast<long long>(s.rows), static_cast<long long>(s.cols), m, sigma, dense_us,
                    (dense_bytes + 2.0 * m * (s.cols + s.rows)) / dense_us / 1e6, kernel_text, kernel_bw,
                    best_us > 0 ? best.str().c_str() : "-", prefill_us, unpack_us, hybrid_path_name(chosen), speedup, ceiling,
                    100 * speedup / ceiling);
        if (cslt_us > 0)
          std::printf("%8.2fus %6.3fx\n", cslt_us, cslt_us / dispatched_us);
        else
          std::printf("%9s %7s\n", "-", "-");
        std::fflush(stdout);
        // The rule's N and split for this call, as its launch computes them.
        const int rule_n = ws128[0].prefill_kernel ? prefill_tokens_per_tile(128, 128, m, s.rows, s.cols, sms, rule) : 0;
        const char* rule_split =
            rule_n > 0 ? prefill_split_name(split_as_run(prefill_work(m, rule_n, s.rows, s.cols, 128, 128, sms,
                                                                      PrefillSplit::rule, rule)))
                       : "";
        results.push_back({{"gpu", prop->name},
                           {"multiprocessors", sms},
                           {"rows", s.rows},
                           {"cols", s.cols},
                           {"tokens", m},
                           {"sparsity", sigma},
                           {"two_four_tile_share", share},
                           {"dependent_launch", options.dependent_launch},
                           {"cluster_split", options.cluster_split},
                           {"x_multicast", options.x_multicast},
                           {"timed_as", options.eager ? "eager launches" : "CUDA graph"},
                           {"cublas_us", dense_us},
                           {"cublas_clocks", clocks_json(cublas.clocks)},
                           {"decode_kernel_us", best_us > 0 ? nlohmann::ordered_json(best_us) : nullptr},
                           {"decode_kernel_config", best_us > 0 ? best.str() : ""},
                           {"prefill_kernel_us", prefill_us > 0 ? nlohmann::ordered_json(prefill_us) : nullptr},
                           {"prefill_kernel_clocks", clocks_json(prefill.clocks)},
                           {"prefill_kernel_host_issue_us", options.eager && prefill_us > 0 ? nlohmann::ordered_json(prefill_host_us) : nullptr},
                           {"prefill_tokens_per_tile", rule_n},
                           {"prefill_kernel_us_by_tile_tokens", by_tile_tokens},
                           {"prefill_split", rule_split},
                           {"prefill_rule_has_cluster_split", rule.cluster_in_rule},
                           {"prefill_rule_has_multicast", rule.multicast_in_rule},
                           {"prefill_rule_has_multicast_stream_k", rule.multicast_in_rule && rule.multicast_stream_k_in_rule},
                           {"prefill_kernel_us_by_variant", by_variant},
                           {"prefill_kernel_clocks_by_variant", clocks_by_variant},
                           {"unpack_cublas_us", unpack_us},
                           {"dispatched", hybrid_path_name(chosen)},
                           {"hybrid_us", dispatched_us},
                           {"speedup", speedup},
                           {"ceiling", ceiling},
                           {"hybrid_tb_per_s", hybrid_bytes / dispatched_us / 1e6},
                           {"hybrid_tflops", 2.0 * m * s.rows * s.cols / dispatched_us / 1e6},
                           {"cublas_tflops", 2.0 * m * s.rows * s.cols / dense_us / 1e6},
                           {"cusparselt_us", cslt_us},
                           {"cusparselt_clocks", clocks_json(cusparselt.clocks)},
                           {"rounds", options.rounds},
                           {"us_by_round", us_by_round}});
      }
    }
  }
  return results;
}
#else
nlohmann::ordered_json run_gemm_benchmark(const GemmBenchOptions& options) {
  validate_gemm_bench(options);
  throw Error(
      "bench gemm needs the CUDA kernels; this patchlm was built "
      "without them (nvcc not found at build time)");
}
#endif

}  // namespace patchlm::kernels
