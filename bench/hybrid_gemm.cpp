// Benchmark: the hybrid dense/2:4 tile GEMM (decode, M ≤ 64 tokens) against cuBLAS bf16 dense and cuSPARSELt 2:4,
// all in the same run on the same GPU. Weights of LLaMA-2-7B / LLaMA-3.1-8B linear shapes with PATCH-like random tile
// patterns (a share 2σ of the 128×128 tiles 2:4, the rest dense); every op is timed inside a CUDA graph that cycles
// through enough weight copies to exceed 4× the L2 cache, so weights stream from HBM as in a real decode step.
//   bench_hybrid_gemm [--shapes 4096x4096,...] [--tokens 1,4,16,64] [--sparsity 0,25,35,45,50] [--json out.json]
//                     [--quick]
// Prints per case: µs, achieved TB/s (bytes actually read / time), speedup vs cuBLAS and vs the byte ceiling
// 1/(1 − 0.875σ), the autotuned kernel configuration; cuSPARSELt at σ = 50 %.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <sstream>

#include "io/mask_file.h"
#include "kernels/hybrid_gemm.h"
#include "kernels/hybrid_linear.h"
#include "util/error.h"
#include "util/json_io.h"

namespace {

using namespace patchlm;

// Median µs per call of op(copy) over a CUDA graph that runs every copy `rounds` times.
double time_graph(const std::function<void(int)>& op, int copies) {
  at::cuda::CUDAStream stream = at::cuda::getStreamFromPool();
  at::cuda::CUDAStreamGuard guard(stream);
  for (int c = 0; c < copies; ++c) op(c);  // warm up: lazy init, autotune caches, smem attributes
  stream.synchronize();
  const int rounds = std::max(1, 240 / copies);
  at::cuda::CUDAGraph graph;
  graph.capture_begin();
  for (int r = 0; r < rounds; ++r)
    for (int c = 0; c < copies; ++c) op(c);
  graph.capture_end();
  graph.replay();
  stream.synchronize();
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  std::vector<double> us;
  for (int k = 0; k < 7; ++k) {
    cudaEventRecord(start, stream.stream());
    graph.replay();
    cudaEventRecord(stop, stream.stream());
    cudaEventSynchronize(stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    us.push_back(1000.0 * ms / (rounds * copies));
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

struct Shape {
  std::int64_t rows, cols;  // W [out, in]
};

std::vector<Shape> parse_shapes(const std::string& text) {
  std::vector<Shape> shapes;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    auto x = item.find('x');
    if (x == std::string::npos) throw UsageError("--shapes: expected OUTxIN, got " + in_quotes(item));
    shapes.push_back({std::stoll(item.substr(0, x)), std::stoll(item.substr(x + 1))});
  }
  return shapes;
}

// A PATCH-like mask: exactly round(share · tiles) random 128×128 tiles 2:4 (random pattern per group), rest dense.
std::vector<std::uint8_t> patch_like_mask(const Shape& s, double share, std::uint64_t seed) {
  const std::int64_t tr = s.rows / 128, tc = s.cols / 128, tiles = tr * tc;
  std::vector<std::int64_t> order(static_cast<std::size_t>(tiles));
  for (std::int64_t i = 0; i < tiles; ++i) order[i] = i;
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<std::uint8_t> keep(static_cast<std::size_t>(s.rows * s.cols), 1);
  for (std::int64_t k = 0; k < std::llround(share * static_cast<double>(tiles)); ++k) {
    std::int64_t r0 = order[k] / tc * 128, c0 = order[k] % tc * 128;
    for (std::int64_t r = r0; r < r0 + 128; ++r)
      for (std::int64_t c = c0; c < c0 + 128; c += 4) pattern_fill(static_cast<int>(rng() % 6), &keep[r * s.cols + c]);
  }
  return keep;
}

struct Config {
  int tile_rows, tile_cols, ctas_per_sm, stages;
  std::string str() const {
    return std::to_string(tile_rows) + "x" + std::to_string(tile_cols) + "/" + std::to_string(ctas_per_sm) + "cta/" +
           std::to_string(stages) + "st";
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hybrid dense/2:4 GEMM vs cuBLAS and cuSPARSELt"};
  std::string shapes_text = "4096x4096,11008x4096,4096x11008,14336x4096,4096x14336";
  std::vector<int> tokens_list{1, 4, 16, 64}, sparsities{0, 25, 35, 45, 50};
  std::string json_path;
  bool quick = false, verbose = false;
  app.add_option("--shapes", shapes_text, "weights OUTxIN");
  app.add_option("--tokens", tokens_list, "token counts (1..64)")->delimiter(',');
  app.add_option("--sparsity", sparsities, "global sparsity in % (0..50)")->delimiter(',');
  app.add_option("--json", json_path, "write every measurement here");
  app.add_flag("--quick", quick, "autotune over fewer configurations");
  app.add_flag("--verbose", verbose, "print the time of every configuration tried");
  CLI11_PARSE(app, argc, argv);
  try {
    if (!at::cuda::is_available()) throw Error("bench_hybrid_gemm needs a CUDA device");
    at::Device cuda("cuda:0");
    const cudaDeviceProp* prop = at::cuda::getCurrentDeviceProperties();
    const int sms = prop->multiProcessorCount;
    const double l2 = prop->l2CacheSize;
    std::printf("GPU: %s, %d SMs, L2 %.0f MB; weights rotated beyond 4x L2; CUDA graphs; median of 7\n", prop->name,
                sms, l2 / 1e6);
    std::vector<Config> configs;
    for (auto [tr, tc] : {std::pair<int, int>{128, 128}, {128, 64}, {64, 128}, {64, 64}})
      for (int per_sm : {1, 2, 3, 4, 6})
        for (int stages : {3, 4, 6, 8}) {
          // --quick: the configurations that won some case on an H200 (docs/performance.md).
          bool winner = (tr == 128 && tc == 128 && ((per_sm == 1 && (stages == 3 || stages == 4)) ||
                                                     (per_sm == 2 && stages == 3))) ||
                        (tr == 128 && tc == 64 && per_sm == 3 && stages == 4) ||
                        (tr == 64 && tc == 128 && ((per_sm == 2 && stages == 4) || (per_sm >= 3 && stages == 3))) ||
                        (tr == 64 && tc == 64 && per_sm == 6 && stages == 4);
          if (quick && !winner) continue;
          configs.push_back({tr, tc, per_sm, stages});
        }
    // A configuration is tried for M tokens when all its CTAs fit on the SMs at once with the ring depth asked for.
    const std::int64_t sm_bytes = kernels::device_shared_bytes_per_multiprocessor();
    auto fits = [&](const Config& c, int m) {
      return kernels::hybrid_stages_that_fit(c.tile_rows, c.tile_cols, m, c.stages, c.ctas_per_sm, sm_bytes) == c.stages;
    };

    nlohmann::json results = nlohmann::json::array();
    std::printf("%-11s %3s %4s | %8s %6s | %8s %6s %-16s | %7s %7s %6s | %9s %7s\n", "W", "M", "σ%", "cuBLAS", "TB/s",
                "hybrid", "TB/s", "config", "speedup", "ceiling", "of", "cuSPARSELt", "hyb/cslt");
    for (const Shape& s : parse_shapes(shapes_text)) {
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
      for (int sigma : sparsities) {
        const double share = 2.0 * sigma / 100.0;
        std::vector<std::uint8_t> keep = patch_like_mask(s, share, 1000 + sigma);
        std::map<std::pair<int, int>, hybrid::PackedHybrid> packs;
        for (const Config& c : configs)
          if (!packs.count({c.tile_rows, c.tile_cols}))
            packs.emplace(std::pair{c.tile_rows, c.tile_cols},
                          hybrid::pack(bits.data(), keep.data(), {s.rows, s.cols, c.tile_rows, c.tile_cols}));
        const double packed_bytes = static_cast<double>(packs.begin()->second.data.size());
        const int copies = static_cast<int>(std::ceil(4 * l2 / packed_bytes)) + 1;
        std::map<std::pair<int, int>, std::vector<kernels::HybridWeight>> weights;
        for (auto& [tile, packed] : packs)
          for (int c = 0; c < copies; ++c) weights[tile].push_back(kernels::upload_hybrid(packed, cuda));

        // cuSPARSELt on the fully 2:4 weight (σ = 50 %), padded to 16 tokens as it requires.
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

        for (int m : tokens_list) {
          at::Tensor x = at::randn({m, s.cols}, bf16);
          at::Tensor y = at::empty({m, s.rows}, bf16);
          double dense_us = time_graph([&](int c) { at::mm_out(y, x, dense[c % dense_copies].t()); }, dense_copies);
          double best_us = 1e30;
          Config best{};
          for (const Config& cfg : configs) {
            if (!fits(cfg, m)) continue;
            auto& ws = weights[{cfg.tile_rows, cfg.tile_cols}];
            for (auto& w : ws) kernels::reschedule(w, packs.at({cfg.tile_rows, cfg.tile_cols}), cfg.ctas_per_sm * sms,
                                                   cfg.stages);
            double us = time_graph([&](int c) { kernels::hybrid_linear(x, ws[c]); }, copies);
            if (verbose) std::printf("    %-20s %8.2f us\n", cfg.str().c_str(), us);
            if (us < best_us) best_us = us, best = cfg;
          }
          double cslt_us = 0;
          if (!cslt.empty()) {
            at::Tensor xp = at::zeros({std::max<std::int64_t>(16, (m + 15) / 16 * 16), s.cols}, bf16);
            xp.narrow(0, 0, m).copy_(x);
            std::int64_t alg = 0;
            try {
              alg = at::_cslt_sparse_mm_search(cslt[0], xp.t(), {}, {}, {}, true);
            } catch (const std::exception&) {
            }
            cslt_us = time_graph(
                [&](int c) { at::_cslt_sparse_mm(cslt[c], xp.t(), {}, {}, {}, /*transpose_result=*/true, alg); },
                copies);
          }
          const double hybrid_bytes = packed_bytes + 2.0 * m * (s.cols + s.rows);
          const double ceiling = 1.0 / (1.0 - 0.875 * sigma / 100.0);
          const double speedup = dense_us / best_us;
          std::printf("%5lldx%-5lld %3d %4d | %8.2f %6.2f | %8.2f %6.2f %-16s | %6.3fx %6.3fx %5.1f%% | ",
                      static_cast<long long>(s.rows), static_cast<long long>(s.cols), m, sigma, dense_us,
                      (dense_bytes + 2.0 * m * (s.cols + s.rows)) / dense_us / 1e6, best_us,
                      hybrid_bytes / best_us / 1e6, best.str().c_str(), speedup, ceiling, 100 * speedup / ceiling);
          if (cslt_us > 0)
            std::printf("%8.2fus %6.3fx\n", cslt_us, cslt_us / best_us);
          else
            std::printf("%9s %7s\n", "-", "-");
          std::fflush(stdout);
          results.push_back({{"gpu", prop->name}, {"rows", s.rows}, {"cols", s.cols}, {"tokens", m},
                             {"sparsity", sigma}, {"two_four_tile_share", share}, {"cublas_us", dense_us},
                             {"hybrid_us", best_us}, {"hybrid_config", best.str()}, {"speedup", speedup},
                             {"ceiling", ceiling}, {"hybrid_tb_per_s", hybrid_bytes / best_us / 1e6},
                             {"cusparselt_us", cslt_us}});
        }
      }
    }
    if (!json_path.empty()) write_json_file(json_path, results);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_hybrid_gemm: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
