// The hybrid GEMM on a GPU against a dense GEMM with the masked weight (skipped where no CUDA device is present).
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>
#include <iterator>
#include <limits>
#include <sstream>
#include <string>
#include <tuple>

#include "hybrid_fixtures.h"
#include "hybrid_gpu.h"
#include "kernels/decode_ops.h"
#include "kernels/dependent_launch.h"
#include "kernels/hybrid_gemm.h"
#include "kernels/hybrid_linear.h"
#include "kernels/hybrid_prefill.h"
#include "mma_sp_probe.h"
#include "util/error.h"

namespace patchlm {
namespace {

// Which (row, group) of the 16×32 A fragment each lane's metadata nibble controls must be what the packer writes
// (io/hybrid_layout.h): lane 4g + t, selector t/2, nibble s → row g + 8·(s/4), group 4·(t%2) + s%4.
TEST(HybridGemmCuda, MetadataNibblesControlTheGroupsThePackerAssumes) {
  SKIP_WITHOUT_HYBRID_GPU();
  std::ostringstream mismatches;
  for (int selector = 0; selector < 2; ++selector)
    for (int lane = 0; lane < 32; ++lane)
      for (int nibble = 0; nibble < 8; ++nibble) {
        std::uint32_t meta[32];
        for (auto& m : meta) m = 0x44444444u;  // every group keeps positions 0 and 1: D = 1 + 2 = 3
        meta[lane] = (meta[lane] & ~(0xFu << (4 * nibble))) | (0xEu << (4 * nibble));  // positions 2 and 3: D = 7
        float d[16 * 8];
        ASSERT_EQ(run_mma_sp_probe(selector, meta, d), "");
        int t = lane % 4;
        int want_row = -1, want_group = -1;
        if (t / 2 == selector) {
          want_row = lane / 4 + 8 * (nibble / 4);
          want_group = 4 * (t % 2) + nibble % 4;
        }
        for (int r = 0; r < 16; ++r)
          for (int n = 0; n < 8; ++n) {
            float want = r == want_row && n == want_group ? 7.f : 3.f;
            if (d[r * 8 + n] != want)
              mismatches << " [sel " << selector << " lane " << lane << " nibble " << nibble << " → D[" << r << "]["
                         << n << "] = " << d[r * 8 + n] << "]";
          }
      }
  EXPECT_EQ(mismatches.str(), "");
}

struct GemmCase {
  std::int64_t rows, cols, tile_rows, tile_cols;
  double share;
  int tokens, ctas, stages;
  bool weights_by_threads = false;  // the Ampere copy path, run on Hopper
};

void expect_matches_dense(const GemmCase& g, std::uint64_t seed) {
  auto c = testing::random_hybrid(g.rows, g.cols, g.tile_rows, g.tile_cols, g.share, seed, 0.02);
  hybrid::PackedHybrid packed = hybrid::pack(c.weight.data(), c.keep.data(), c.grid);
  at::Device cuda("cuda:0");
  kernels::HybridWeight w = kernels::upload_hybrid(packed, cuda, g.ctas, g.stages);
  w.weights_by_threads = g.weights_by_threads;
  std::vector<std::uint16_t> masked = testing::masked(c);
  at::Tensor wm = at::from_blob(masked.data(), {g.rows, g.cols}, at::kBFloat16).to(cuda);
  at::manual_seed(seed);
  at::Tensor x = at::randn({g.tokens, g.cols}, at::TensorOptions().dtype(at::kBFloat16).device(cuda));
  at::Tensor want = at::linear(x.to(at::kFloat), wm.to(at::kFloat));
  std::ostringstream what;
  what << g.rows << "x" << g.cols << " tiles " << g.tile_rows << "x" << g.tile_cols << " share " << g.share
       << " tokens " << g.tokens << " ctas " << g.ctas << " stages " << g.stages
       << (g.weights_by_threads ? " weights by threads" : "");
  for (int call = 0; call < 2; ++call) {  // the second call checks the finish kernel left the workspace at zero
    at::Tensor got = kernels::hybrid_linear_decode_kernel(x, w).to(at::kFloat);
    double scale = want.abs().max().item<double>();
    double err = (got - want).abs().max().item<double>();
    EXPECT_LE(err, 1e-2 * scale) << what.str() << " call " << call;
  }
  EXPECT_EQ(w.workspace(at::cuda::getCurrentCUDAStream().stream()).abs().sum().item<float>(), 0.f) << what.str();
}

TEST(HybridGemmCuda, MatchesDenseMaskedGemmForTileShapesSharesAndTokenCounts) {
  SKIP_WITHOUT_HYBRID_GPU();
  std::uint64_t seed = 1;
  for (auto [tr, tc] : {std::pair<int, int>{128, 128}, {64, 128}, {64, 64}})
    for (double share : {0.0, 0.5, 1.0})
      for (int tokens : {1, 5, 8, 16, 31, 64})
        expect_matches_dense({512, 1024, tr, tc, share, tokens, 0, 4}, ++seed);
}

TEST(HybridGemmCuda, EveryScheduleAndRingDepthGivesTheSameProduct) {
  SKIP_WITHOUT_HYBRID_GPU();
  std::uint64_t seed = 100;
  for (int ctas : {1, 3, 16, 132, 400})
    for (int stages : {3, 4, 6}) expect_matches_dense({1024, 2048, 128, 128, 0.6, 16, ctas, stages}, ++seed);
  expect_matches_dense({4096, 4096, 128, 128, 0.7, 64, 0, 4}, ++seed);
  expect_matches_dense({4096, 11008 / 64 * 64, 64, 64, 0.5, 1, 0, 3}, ++seed);
}

TEST(HybridGemmCuda, AmpereCopyPathGivesTheSameProduct) {
  SKIP_WITHOUT_HYBRID_GPU();
  std::uint64_t seed = 200;
  for (auto [tr, tc] : {std::pair<int, int>{128, 128}, {64, 64}})
    for (int tokens : {1, 16, 64})
      for (int ctas : {0, 7}) expect_matches_dense({1024, 2048, tr, tc, 0.5, tokens, ctas, 4, true}, ++seed);
}

TEST(HybridGemmCuda, LongInputsRunInChunksAndBiasGoesThroughTheSeam) {
  SKIP_WITHOUT_HYBRID_GPU();
  auto c = testing::random_hybrid(256, 512, 128, 128, 0.5, 7);
  auto packed = std::make_shared<hybrid::PackedHybrid>(hybrid::pack(c.weight.data(), c.keep.data(), c.grid));
  at::Device cuda("cuda:0");
  std::vector<std::uint16_t> masked = testing::masked(c);
  at::Tensor wm = at::from_blob(masked.data(), {256, 512}, at::kBFloat16).to(cuda);
  at::Tensor bias = at::randn({256}, at::TensorOptions().dtype(at::kBFloat16).device(cuda));
  Proj proj("p", at::empty({256, 512}, at::TensorOptions().dtype(at::kBFloat16).device(at::kMeta)), bias);
  auto strategy = std::make_shared<kernels::HybridProj>(packed, cuda);
  proj.set_strategy(strategy);
  // Both paths for 2 × 70 tokens — the decode kernel in chunks of 64, the unpacked weight on cuBLAS — and for 1 × 70
  // and 1 × 7 through the seam, whichever the dispatch picks.
  for (const std::vector<std::int64_t>& shape : {std::vector<std::int64_t>{2, 70, 512}, {1, 7, 512}}) {
    at::Tensor x = at::randn(shape, at::TensorOptions().dtype(at::kBFloat16).device(cuda));
    at::Tensor want = at::linear(x.to(at::kFloat), wm.to(at::kFloat), bias.to(at::kFloat));
    for (const at::Tensor& got : {proj.forward(x), kernels::hybrid_linear_decode_kernel(x, strategy->weight()) + bias,
                                  kernels::hybrid_linear_unpacked(x, strategy->weight()) + bias}) {
      ASSERT_EQ(got.sizes(), want.sizes());
      EXPECT_LE((got.to(at::kFloat) - want).abs().max().item<double>(), 1e-2 * want.abs().max().item<double>());
    }
  }
  at::Tensor x = at::randn({2, 70, 512}, at::TensorOptions().dtype(at::kBFloat16).device(cuda));
  // fp32 inputs are refused, naming the projection (kernels/hybrid_model builds fp32 models dense instead).
  EXPECT_THROW(proj.forward(x.to(at::kFloat)), Error);
}

// Every path at every token count against the dense GEMM of the masked weight — the decode kernel, the wgmma prefill
// kernel (Hopper), unpack + cuBLAS, and the dispatch between them — with odd token counts on both sides of the
// crossover, a long K, 0 / 50 / 100 % of the tiles 2:4 and every tile shape the prefill kernel was built for.
TEST(HybridGemmCuda, EveryPathAndTokenCountMatchesTheDenseMaskedGemm) {
  SKIP_WITHOUT_HYBRID_GPU();
  std::uint64_t seed = 400;
  at::Device cuda("cuda:0");
  for (auto [tr, tc] : {std::pair<int, int>{128, 128}, {64, 128}, {128, 64}, {64, 64}})
    for (double share : {0.0, 0.5, 1.0}) {
      auto c = testing::random_hybrid(384, 5120, tr, tc, share, ++seed, 0.02);
      const hybrid::PackedHybrid packed = hybrid::pack(c.weight.data(), c.keep.data(), c.grid);
      const kernels::HybridWeight w = kernels::upload_hybrid(packed, cuda);
      std::vector<std::uint16_t> masked = testing::masked(c);
      const at::Tensor wm = at::from_blob(masked.data(), {384, 5120}, at::kBFloat16).to(cuda).to(at::kFloat);
      const std::int64_t cross = w.prefill_from_tokens;
      for (std::int64_t tokens : {std::int64_t{1}, cross - 1, cross, std::int64_t{129}, std::int64_t{301}, std::int64_t{1031}}) {
        const at::Tensor x = at::randn({tokens, 5120}, at::TensorOptions().dtype(at::kBFloat16).device(cuda));
        const at::Tensor want = at::linear(x.to(at::kFloat), wm);
        std::vector<std::pair<const char*, at::Tensor>> paths = {{"dispatch", kernels::hybrid_linear(x, w)},
                                                                  {"unpack", kernels::hybrid_linear_unpacked(x, w)}};
        if (w.prefill_kernel) paths.emplace_back("wgmma", kernels::hybrid_linear_prefill_kernel(x, w));
        if (tokens <= 301) paths.emplace_back("decode kernel", kernels::hybrid_linear_decode_kernel(x, w));
        for (const auto& [name, got] : paths)
          EXPECT_LE((got.to(at::kFloat) - want).abs().max().item<double>(), 1e-2 * want.abs().max().item<double>())
              << name << " tiles " << tr << "x" << tc << " share " << share << " tokens " << tokens;
      }
    }
}

// The wgmma kernel under every kind of work split (kernels/prefill_work.h): pretending the GPU has 1, 5, 7 or 64
// multiprocessors gives one CTA doing everything, full waves with a stream-K remainder, and stream-K only — each
// against the dense GEMM of the masked weight, with the tokens per tile the rule picks and each forced (every one of
// kTokensPerTileChoices for 128x128 tiles, 128 for the others), and the last wave's split by the rule, forced whole,
// forced stream-K and forced cluster split (where a cluster fits, with 128x128 tiles; else whole tiles).
TEST(HybridGemmCuda, PrefillKernelMatchesUnderEveryWorkSplit) {
  SKIP_WITHOUT_HYBRID_GPU();
  at::Device cuda("cuda:0");
  std::uint64_t seed = 700;
  for (auto [tr, tc] : {std::pair<int, int>{128, 128}, {64, 64}}) {
    auto c = testing::random_hybrid(640, 2048, tr, tc, 0.5, ++seed, 0.02);
    const hybrid::PackedHybrid packed = hybrid::pack(c.weight.data(), c.keep.data(), c.grid);
    kernels::HybridWeight w = kernels::upload_hybrid(packed, cuda);
    if (!w.prefill_kernel) GTEST_SKIP() << "no wgmma prefill kernel on this device";
    std::vector<std::uint16_t> masked = testing::masked(c);
    const at::Tensor wm = at::from_blob(masked.data(), {640, 2048}, at::kBFloat16).to(cuda).to(at::kFloat);
    for (std::int64_t tokens : {std::int64_t{40}, std::int64_t{96}, std::int64_t{192}, std::int64_t{301}, std::int64_t{1031}}) {
      const at::Tensor x = at::randn({tokens, 2048}, at::TensorOptions().dtype(at::kBFloat16).device(cuda));
      const at::Tensor want = at::linear(x.to(at::kFloat), wm);
      std::vector<int> forced_n{0};  // the rule's, then each one built for these tiles
      for (int n : kernels::kTokensPerTileChoices)
        if (kernels::prefill_tokens_per_tile_built(tr, tc, n)) forced_n.push_back(n);
      for (int n : forced_n)
        for (int mp : {1, 5, 7, 64})
          for (auto split : {kernels::PrefillSplit::rule, kernels::PrefillSplit::whole, kernels::PrefillSplit::stream_k,
                             kernels::PrefillSplit::cluster}) {
            w.prefill_tokens_per_tile = n;
            w.multiprocessors = mp;
            w.prefill_split = split;
            const at::Tensor got = kernels::hybrid_linear_prefill_kernel(x, w).to(at::kFloat);
            EXPECT_LE((got - want).abs().max().item<double>(), 1e-2 * want.abs().max().item<double>())
                << "tiles " << tr << "x" << tc << " tokens " << tokens << " tokens per tile " << n << " multiprocessors "
                << mp << " split " << static_cast<int>(split);
          }
      w.prefill_tokens_per_tile = 0;
      w.prefill_split = kernels::PrefillSplit::rule;
    }
    // The stream's flags, reused by every call above, are all down again for the next one.
    EXPECT_EQ(w.prefill_flags(at::cuda::getCurrentCUDAStream().stream(), 1).abs().sum().item<std::int64_t>(), 0);
  }
}

// A stream-K finisher adds its contributions (kernels/stream_k_exchange.h) through the idle copy ring where it holds
// them all (6 at N = 64, 4 at 96, 3 at 104–128), in registers otherwise. A long row (32 steps) split into shares of 4
// steps gives each output tile 7 contributors — more than any ring holds — and tokens per tile of 64 at 100 tokens 2
// token tiles; checked against the dense GEMM at N on both sides of the ring's limit. The walk itself (and so the
// contributor count) is checked without a GPU.
TEST(HybridGemmCuda, StreamKFinishersAddManyContributions) {
  const std::int64_t rows = 256, cols = 4096;
  const int many_sms = 64;
  for (int n : {64, 128}) {
    const kernels::PrefillWork work =
        kernels::prefill_work(40, n, rows, cols, 128, 128, many_sms, kernels::PrefillSplit::stream_k);
    int most = 0;
    for (int cta = 0; cta < work.ctas; ++cta) {
      kernels::PrefillWalk walk(work, cta);
      kernels::PrefillSegment s;
      while (walk.next(s))
        if (s.kind == kernels::PrefillSegment::finish) most = std::max(most, s.end_contributor - s.first_contributor);
    }
    EXPECT_GE(most, 7) << "N " << n << ": the test needs finishers with more contributions than the ring holds";
  }
  SKIP_WITHOUT_HYBRID_GPU();
  at::Device cuda("cuda:0");
  auto c = testing::random_hybrid(rows, cols, 128, 128, 0.5, 811, 0.02);
  const hybrid::PackedHybrid packed = hybrid::pack(c.weight.data(), c.keep.data(), c.grid);
  kernels::HybridWeight w = kernels::upload_hybrid(packed, cuda);
  if (!w.prefill_kernel) GTEST_SKIP() << "no wgmma prefill kernel on this device";
  std::vector<std::uint16_t> masked = testing::masked(c);
  const at::Tensor wm = at::from_blob(masked.data(), {rows, cols}, at::kBFloat16).to(cuda).to(at::kFloat);
  w.multiprocessors = many_sms;
  w.prefill_split = kernels::PrefillSplit::stream_k;
  for (std::int64_t tokens : {std::int64_t{40}, std::int64_t{100}}) {
    const at::Tensor x = at::randn({tokens, cols}, at::TensorOptions().dtype(at::kBFloat16).device(cuda));
    const at::Tensor want = at::linear(x.to(at::kFloat), wm);
    for (int n : {64, 96, 104, 128, 136, 256}) {
      w.prefill_tokens_per_tile = n;
      for (int repeat = 0; repeat < 3; ++repeat) {  // the flags go down after each call for the next
        const at::Tensor got = kernels::hybrid_linear_prefill_kernel(x, w).to(at::kFloat);
        EXPECT_LE((got - want).abs().max().item<double>(), 1e-2 * want.abs().max().item<double>())
            << "tokens " << tokens << " tokens per tile " << n << " call " << repeat;
      }
    }
  }
  EXPECT_EQ(w.prefill_flags(at::cuda::getCurrentCUDAStream().stream(), 1).abs().sum().item<std::int64_t>(), 0);
}

// The cluster split (PrefillSplit::cluster, kernels/cluster_reduce.h): each tail tile's K steps shared by the 2 or 4
// CTAs of one thread-block cluster, which add up their sums through distributed shared memory, each rank writing a
// slice of the tile's tokens — at N from 64 to 256 (where the tiles do not leave room for a cluster, whole tiles),
// against the dense GEMM; in rank order, so two calls give the same bits. y's block is filled with NaN before each
// call (the caching allocator hands the freed block back), so a slice no rank writes shows. The split's sizes are
// checked without a GPU.
TEST(HybridGemmCuda, ClusterSplitMatchesAndIsDeterministic) {
  // {rows, cols, tokens, N, SMs} → cluster size: 512×4096 at 100 tokens is 4 tiles of 32 steps; 640×2048 at 192
  // tokens 15 tiles of 16 steps (64-token tiles): 32 SMs — clusters of 2; 64 SMs — of 4.
  struct Split {
    std::int64_t rows, cols, tokens;
    int n, sms, cluster;
  };
  const Split splits[] = {{512, 4096, 100, 104, 8, 2},  {512, 4096, 100, 104, 16, 4}, {512, 4096, 100, 104, 64, 4},
                          {640, 2048, 192, 64, 32, 2},  {640, 2048, 192, 64, 64, 4}};
  for (const Split& t : splits)
    EXPECT_EQ(kernels::prefill_work(t.tokens, t.n, t.rows, t.cols, 128, 128, t.sms, kernels::PrefillSplit::cluster).cluster,
              t.cluster)
        << t.rows << "x" << t.cols << " at " << t.tokens << " tokens, " << t.sms << " SMs";
  SKIP_WITHOUT_HYBRID_GPU();
  at::Device cuda("cuda:0");
  std::uint64_t seed = 900;
  for (const Split& t : splits) {
    auto c = testing::random_hybrid(t.rows, t.cols, 128, 128, 0.5, ++seed, 0.02);
    const hybrid::PackedHybrid packed = hybrid::pack(c.weight.data(), c.keep.data(), c.grid);
    kernels::HybridWeight w = kernels::upload_hybrid(packed, cuda);
    if (!w.prefill_kernel) GTEST_SKIP() << "no wgmma prefill kernel on this device";
    std::vector<std::uint16_t> masked = testing::masked(c);
    const at::Tensor wm = at::from_blob(masked.data(), {t.rows, t.cols}, at::kBFloat16).to(cuda).to(at::kFloat);
    const at::Tensor x = at::randn({t.tokens, t.cols}, at::TensorOptions().dtype(at::kBFloat16).device(cuda));
    const at::Tensor want = at::linear(x.to(at::kFloat), wm);
    w.multiprocessors = t.sms;
    w.prefill_split = kernels::PrefillSplit::cluster;
    for (int n : kernels::kTokensPerTileChoices) {
      if (n != t.n && n % 24 != 0 && n != 256) continue;  // t.n, 72, 96, …, 240, 256
      w.prefill_tokens_per_tile = n;
      at::Tensor first;
      for (int repeat = 0; repeat < 2; ++repeat) {
        at::full({t.tokens, t.rows}, std::numeric_limits<float>::quiet_NaN(), x.options());  // freed: y's block next
        const at::Tensor got = kernels::hybrid_linear_prefill_kernel(x, w);
        const double error = (got.to(at::kFloat) - want).abs().max().item<double>();
        EXPECT_LE(error, 1e-2 * want.abs().max().item<double>())  // NaN fails too
            << t.rows << "x" << t.cols << " at " << t.tokens << " tokens, N " << n << ", " << t.sms << " SMs, call " << repeat;
        if (repeat == 0) first = got.clone();
        else EXPECT_TRUE(at::equal(first, got)) << "N " << n << ", " << t.sms << " SMs: not the same bits twice";
      }
    }
  }
}

// Captured into a CUDA graph (as the engine's batched decode is), the rule's launch may take the cluster split where
// an eager one takes stream-K (prefill_rule_model): 2048×4096 at 64 and 100 tokens, 4096×4096 at 100, on every SM of
// the device — the graph's replay (y filled with NaN before it) and the eager call each against the dense GEMM (not
// against each other bit for bit: the two splits add the K steps in different orders). Run alone (a process of its
// own), each cluster kernel's first launch — with its one-time host calls in relaxed capture mode — is in the capture.
TEST(HybridGemmCuda, GraphCapturedPrefillMatchesTheEagerCall) {
  SKIP_WITHOUT_HYBRID_GPU();
  at::Device cuda("cuda:0");
  std::uint64_t seed = 970;
  for (const auto [rows, cols, tokens] : {std::tuple<std::int64_t, std::int64_t, std::int64_t>{2048, 4096, 64},
                                          {2048, 4096, 100}, {4096, 4096, 100}}) {
    auto c = testing::random_hybrid(rows, cols, 128, 128, 0.5, ++seed, 0.02);
    const hybrid::PackedHybrid packed = hybrid::pack(c.weight.data(), c.keep.data(), c.grid);
    const kernels::HybridWeight w = kernels::upload_hybrid(packed, cuda);
    if (!w.prefill_kernel) GTEST_SKIP() << "no wgmma prefill kernel on this device";
    std::vector<std::uint16_t> masked = testing::masked(c);
    const at::Tensor wm = at::from_blob(masked.data(), {rows, cols}, at::kBFloat16).to(cuda).to(at::kFloat);
    const at::Tensor x = at::randn({tokens, cols}, at::TensorOptions().dtype(at::kBFloat16).device(cuda));
    const at::Tensor want = at::linear(x.to(at::kFloat), wm);
    const at::Tensor eager = kernels::hybrid_linear_prefill_kernel(x, w);
    at::cuda::getCurrentCUDAStream().synchronize();  // x and the eager call are done before another stream reads x
    at::Tensor replayed;  // the replay's output, copied out of the graph's memory pool while the graph lives
    {
      const at::cuda::CUDAStream stream = at::cuda::getStreamFromPool();
      const at::cuda::CUDAStreamGuard guard(stream);
      kernels::hybrid_linear_prefill_kernel(x, w);  // warm up on this stream (its stream-K flags, if any)
      stream.synchronize();
      at::cuda::CUDAGraph graph;
      graph.capture_begin();
      const at::Tensor captured = kernels::hybrid_linear_prefill_kernel(x, w);
      graph.capture_end();
      captured.fill_(std::numeric_limits<float>::quiet_NaN());  // what the replay must overwrite
      graph.replay();
      replayed = captured.to(at::kFloat);
      stream.synchronize();
    }
    const std::string where = std::to_string(rows) + "x" + std::to_string(cols) + " at " + std::to_string(tokens) + " tokens";
    const double scale = want.abs().max().item<double>();
    EXPECT_LE((replayed - want).abs().max().item<double>(), 1e-2 * scale) << where;  // NaN fails too
    EXPECT_LE((eager.to(at::kFloat) - want).abs().max().item<double>(), 1e-2 * scale) << where;
    const kernels::PrefillCostModel in_graph = kernels::prefill_rule_model({.graph = true});
    const int n = kernels::prefill_tokens_per_tile(128, 128, tokens, rows, cols, w.multiprocessors, in_graph);
    const kernels::PrefillWork work =
        kernels::prefill_work(tokens, n, rows, cols, 128, 128, w.multiprocessors, kernels::PrefillSplit::rule, in_graph);
    if (rows == 2048 && tokens == 64 && w.multiprocessors == 132) EXPECT_EQ(work.cluster, 4) << "the case should take clusters";
  }
}

// Programmatic dependent launch (kernels/dependent_launch.h): each GEMM may start while the kernel before it is still
// writing its x — the engine's norm, or the GEMM before it here: chains y ← W·y of a square weight on each kernel,
// and a norm followed by the GEMM, each step against the dense GEMM of the masked weight on the x that step really
// had (so a step that read its x early, before the kernel before it had finished writing it, shows). Then the same
// with dependent launch off.
TEST(HybridGemmCuda, DependentLaunchesReadTheFinishedOutputOfTheKernelBefore) {
  SKIP_WITHOUT_HYBRID_GPU();
  at::Device cuda("cuda:0");
  auto c = testing::random_hybrid(2048, 2048, 128, 128, 0.5, 950, 0.03);
  const hybrid::PackedHybrid packed = hybrid::pack(c.weight.data(), c.keep.data(), c.grid);
  const kernels::HybridWeight w = kernels::upload_hybrid(packed, cuda);
  std::vector<std::uint16_t> masked = testing::masked(c);
  const at::Tensor wm = at::from_blob(masked.data(), {2048, 2048}, at::kBFloat16).to(cuda).to(at::kFloat);
  const at::Tensor norm_weight = at::rand({2048}, at::TensorOptions().device(cuda)).to(at::kBFloat16) + 0.5;
  const auto bf16 = at::TensorOptions().dtype(at::kBFloat16).device(cuda);
  using Kernel = at::Tensor (*)(const at::Tensor&, const kernels::HybridWeight&);
  std::vector<std::pair<const char*, Kernel>> kernels_to_run = {{"decode kernel", kernels::hybrid_linear_decode_kernel}};
  if (w.prefill_kernel) kernels_to_run.emplace_back("wgmma", kernels::hybrid_linear_prefill_kernel);
  for (bool dependent : {true, false}) {
    kernels::set_dependent_launch(dependent);
    for (const auto& [name, kernel] : kernels_to_run)
      for (std::int64_t tokens : {std::int64_t{8}, std::int64_t{40}, std::int64_t{301}}) {
        if (tokens > 64 && kernel == kernels::hybrid_linear_decode_kernel) continue;
        std::vector<at::Tensor> xs = {at::randn({tokens, 2048}, bf16)};
        xs.push_back(kernels::rms_norm(xs[0], norm_weight, 1e-6, false));  // the engine's norm, then the GEMM
        for (int step = 0; step < 6; ++step) xs.push_back(kernel(xs.back(), w));
        for (std::size_t k = 2; k < xs.size(); ++k) {
          const at::Tensor want = at::linear(xs[k - 1].to(at::kFloat), wm);
          EXPECT_LE((xs[k].to(at::kFloat) - want).abs().max().item<double>(), 1e-2 * want.abs().max().item<double>())
              << name << " tokens " << tokens << " step " << k - 1 << (dependent ? "" : " (no dependent launch)");
        }
      }
  }
  kernels::set_dependent_launch(true);
}

// Host-side (no GPU needed): the stream-K split's step costs, set once at upload from the packed row blocks, follow the
// kinds the schedule's tile descriptors give the kernel (bit 31: 2:4), tile by tile in the walk's order.
TEST(HybridGemmCuda, StepCostsFollowTheTileDescriptors) {
  auto c = testing::random_hybrid(640, 2048, 128, 128, 0.5, 910, 0.02);
  const hybrid::PackedHybrid packed = hybrid::pack(c.weight.data(), c.keep.data(), c.grid);
  kernels::HybridWeight w = kernels::upload_hybrid(packed, at::kCPU);
  kernels::reschedule(w, packed, 7, 3);  // the autotuner's re-plans keep them
  const at::Tensor desc = w.tile_desc.cpu().contiguous();
  const std::int32_t* d = desc.data_ptr<std::int32_t>();
  const std::vector<std::int32_t> want = kernels::row_step_cost_prefix(
      5, 16, [&](std::int64_t i) { return (static_cast<std::uint32_t>(d[2 * i + 1]) >> 31) != 0; });
  EXPECT_EQ(w.row_cost_prefix, want);
  EXPECT_NE(want.back(), 16 * kernels::kDenseStepCost) << "the case should mix 2:4 and dense tiles";
}

// Host-side (no GPU needed): by default a launch captured into a CUDA graph may take the cluster split and an eager one
// may not (kernels/prefill_work.h ClusterSplitUse, prefill_rule_model) — and the workspace asked with the same plan
// follows: 2048×4096 at 64 tokens is 16 output tiles, by stream-K without clusters (its partial sums and flags), by
// clusters of 4 with them (no workspace).
TEST(HybridGemmCuda, TheWorkspaceFollowsTheRuleOfTheLaunch) {
  using kernels::ClusterSplitUse;
  EXPECT_EQ(kernels::kClusterSplitUse, ClusterSplitUse::in_graphs);
  kernels::HybridPrefillPlan p;
  p.rows = 2048, p.cols = 4096, p.multiprocessors = 132;
  const std::int64_t tokens = 64;
  for (const ClusterSplitUse use : {ClusterSplitUse::never, ClusterSplitUse::in_graphs, ClusterSplitUse::always})
    for (const bool graph : {false, true}) {
      p.rule = {.graph = graph, .cluster_split = use};
      const std::string where = std::string(kernels::cluster_split_use_name(use)) + (graph ? ", in a graph" : ", eager");
      const kernels::PrefillCostModel model = kernels::prefill_rule_model(p.rule);
      const int n = kernels::prefill_tokens_per_tile(128, 128, tokens, p.rows, p.cols, p.multiprocessors, model);
      const kernels::PrefillWork w =
          kernels::prefill_work(tokens, n, p.rows, p.cols, 128, 128, p.multiprocessors, kernels::PrefillSplit::rule, model);
      const bool clusters = use == ClusterSplitUse::always || (use == ClusterSplitUse::in_graphs && graph);
      EXPECT_EQ(w.cluster, clusters ? 4 : 1) << where;
      const kernels::HybridPrefillWorkspace need = kernels::hybrid_prefill_workspace(p, tokens);
      EXPECT_EQ(need.flags > 0, !clusters) << where;
      if (!clusters) EXPECT_EQ(need.flags, w.stream_ctas) << where;
    }
}

// Host-side (no GPU needed): the dispatch follows the measured crossovers — decode kernel, then the wgmma kernel where
// it runs, then unpack + cuBLAS.
TEST(HybridGemmCuda, DispatchFollowsTheMeasuredCrossovers) {
  kernels::HybridWeight w;
  w.prefill_kernel = true;
  using P = kernels::HybridPath;
  EXPECT_EQ(kernels::wgmma_from_tokens(128, 128), 33);  // 64-token tiles: only for 128x128 weight tiles
  EXPECT_EQ(kernels::wgmma_from_tokens(64, 128), kernels::kDecodeKernelBelowTokens);
  w.prefill_from_tokens = kernels::wgmma_from_tokens(128, 128);
  EXPECT_EQ(w.path_for(1), P::decode_kernel);
  EXPECT_EQ(w.path_for(32), P::decode_kernel);
  EXPECT_EQ(w.path_for(33), P::prefill_kernel);
  struct Crossover {
    double share;
    std::int64_t cols, from;
    bool large_token_tiles;
  };
  const Crossover crossovers[] = {{0.0, 4096, 8192, true},   {0.49, 11008, 8192, true}, {0.0, 4096, 2048, false},
                                  {0.49, 11008, 2048, false},
                                  {0.5, 4096, 4096, false},  {0.89, 8191, 4096, false}, {0.5, 8192, 2048, false},
                                  {0.89, 11008, 2048, false}, {0.9, 4096, 4096, false}, {1.0, 11008, 4096, false}};
  for (auto [share, cols, from, large] : crossovers) {
    w.unpack_from_tokens = kernels::unpack_from_tokens(share, cols, large);
    EXPECT_EQ(w.unpack_from_tokens, from) << "2:4 tile share " << share << ", " << cols << " inputs, large " << large;
    EXPECT_EQ(w.path_for(from - 1), P::prefill_kernel);
    EXPECT_EQ(w.path_for(from), P::unpacked);
  }
  for (double share : {0.5, 0.89, 0.9, 1.0}) {  // σ ≥ 25 % with 256-token tiles: the wgmma kernel at every count
    w.unpack_from_tokens = kernels::unpack_from_tokens(share, 4096, true);
    EXPECT_EQ(w.path_for(std::int64_t{1} << 40), P::prefill_kernel) << "2:4 tile share " << share;
  }
  w.prefill_kernel = false;  // Ampere, or a tile without the kernel: the decode kernel up to 63 tokens
  EXPECT_EQ(w.path_for(33), P::decode_kernel);
  EXPECT_EQ(w.path_for(kernels::kDecodeKernelBelowTokens - 1), P::decode_kernel);
  EXPECT_EQ(w.path_for(kernels::kDecodeKernelBelowTokens), P::unpacked);
}

// Host-side (no GPU needed): the ring depth a call takes is the deepest allowed one that keeps every CTA resident.
TEST(HybridGemmCuda, StagesThatFitAreTheDeepestResidentRing) {
  const std::int64_t sm = 228 * 1024;  // H100 / H200
  const int choices[] = {2, 3, 4, 6, 8, 12};
  auto resident = [&](int tr, int tc, int tokens, int stages, int per_sm) {
    const std::int64_t ring = kernels::hybrid_ring_bytes(tr, tc, tokens, stages);
    return ring <= kernels::kMaxSharedBytes - 512 && per_sm * (ring + 2048) <= sm;
  };
  for (auto [tr, tc] : {std::pair<int, int>{128, 128}, {128, 64}, {64, 128}, {64, 64}})
    for (int tokens : {1, 8, 9, 16, 17, 32, 33, 64})
      for (int per_sm : {1, 2, 3, 4, 6})
        for (int asked : choices) {
          const int got = kernels::hybrid_stages_that_fit(tr, tc, tokens, asked, per_sm, sm);
          std::ostringstream what;
          what << tr << "x" << tc << " tokens " << tokens << " ctas/SM " << per_sm << " asked " << asked;
          EXPECT_LE(got, asked) << what.str();
          EXPECT_TRUE(std::find(std::begin(choices), std::end(choices), got) != std::end(choices)) << what.str();
          if (got > 2) EXPECT_TRUE(resident(tr, tc, tokens, got, per_sm)) << what.str();
          for (int deeper : choices)  // nothing deeper (and still allowed) would have fitted
            if (deeper > got && deeper <= asked) EXPECT_FALSE(resident(tr, tc, tokens, deeper, per_sm)) << what.str();
        }
  // The defaults of upload_hybrid for 128x128 tiles: 3 stages at up to 16 tokens, 2 at 64, with 2 CTAs per SM.
  EXPECT_EQ(kernels::hybrid_stages_that_fit(128, 128, 16, 3, 2, sm), 3);
  EXPECT_EQ(kernels::hybrid_stages_that_fit(128, 128, 64, 3, 2, sm), 2);
}

TEST(HybridGemmCuda, BadInputsAreClearErrors) {
  SKIP_WITHOUT_HYBRID_GPU();
  auto c = testing::random_hybrid(128, 256, 128, 128, 0.5, 9);
  hybrid::PackedHybrid packed = hybrid::pack(c.weight.data(), c.keep.data(), c.grid);
  kernels::HybridWeight w = kernels::upload_hybrid(packed, at::Device("cuda:0"));
  auto opts = at::TensorOptions().device(at::Device("cuda:0"));
  EXPECT_THROW(kernels::hybrid_linear(at::randn({4, 256}, opts.dtype(at::kFloat)), w), Error);
  EXPECT_THROW(kernels::hybrid_linear(at::randn({4, 128}, opts.dtype(at::kBFloat16)), w), Error);
  EXPECT_THROW(kernels::hybrid_linear(at::randn({4, 256}, at::kBFloat16), w), Error);
  if (w.prefill_kernel) {  // a forced tokens-per-tile the kernel lacks (benchmarks): one line naming it
    w.prefill_tokens_per_tile = 100;
    try {
      kernels::hybrid_linear_prefill_kernel(at::randn({300, 256}, opts.dtype(at::kBFloat16)), w);
      ADD_FAILURE() << "100 tokens per tile ran";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("no kernel with 100 tokens per tile for 128x128 tiles"), std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace patchlm
