// The prefill kernel's x-multicast split (kernels/x_multicast.h; PrefillSplit::multicast_2 / multicast_4 and their
// -stream-k forms) on a GPU against the dense GEMM of the masked weight (skipped where no CUDA device is present):
// clusters of 2 and 4 CTAs walking neighbouring row blocks column by column with each x panel loaded once per cluster,
// at every N it was built for, token counts whose last token tile leaves some ranks' slices empty (40 tokens: 3 of 4
// slices at N = 256) or partly filled, one cluster or several waves of them, row blocks whose 2:4 tiles lie in
// different columns; the last wave whole or by stream-K over the clusters (several contributors per tile where the
// clusters outnumber the tail's tiles), after which every flag is down again.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>

#include <cstdint>
#include <limits>
#include <vector>

#include "hybrid_fixtures.h"
#include "hybrid_gpu.h"
#include "kernels/hybrid_linear.h"
#include "kernels/prefill_work.h"

namespace patchlm {
namespace {

TEST(PrefillMulticastCuda, MatchesTheDenseMaskedGemmInClustersOfTwoAndFour) {
  SKIP_WITHOUT_HYBRID_GPU();
  at::Device cuda("cuda:0");
  std::uint64_t seed = 1300;
  int multicast_calls = 0, stream_k_calls = 0;
  for (auto [rows, share] : {std::pair<std::int64_t, double>{512, 0.5}, {768, 0.3}, {512, 1.0}, {512, 0.0}}) {
    const std::int64_t cols = 2048;
    auto c = testing::random_hybrid(rows, cols, 128, 128, share, ++seed, 0.02);
    const hybrid::PackedHybrid packed = hybrid::pack(c.weight.data(), c.keep.data(), c.grid);
    kernels::HybridWeight w = kernels::upload_hybrid(packed, cuda);
    if (!w.prefill_kernel) GTEST_SKIP() << "no wgmma prefill kernel on this device";
    std::vector<std::uint16_t> masked = testing::masked(c);
    const at::Tensor wm = at::from_blob(masked.data(), {rows, cols}, at::kBFloat16).to(cuda).to(at::kFloat);
    for (std::int64_t tokens : {std::int64_t{40}, std::int64_t{301}, std::int64_t{1031}}) {
      const at::Tensor x = at::randn({tokens, cols}, at::TensorOptions().dtype(at::kBFloat16).device(cuda));
      const at::Tensor want = at::linear(x.to(at::kFloat), wm);
      for (int n : kernels::kTokensPerTileChoices) {
        if (!kernels::prefill_multicast_kernel_built(128, 128, n)) continue;
        for (int mp : {4, 8, 64})
          for (auto split : {kernels::PrefillSplit::multicast_2, kernels::PrefillSplit::multicast_4,
                             kernels::PrefillSplit::multicast_2_stream_k, kernels::PrefillSplit::multicast_4_stream_k}) {
            w.prefill_tokens_per_tile = n;
            w.multiprocessors = mp;
            w.prefill_split = split;
            const kernels::PrefillWork work = kernels::prefill_work(tokens, n, rows, cols, 128, 128, mp, split);
            multicast_calls += work.multicast > 1;
            stream_k_calls += work.multicast > 1 && work.split_tail;
            at::full({tokens, rows}, std::numeric_limits<float>::quiet_NaN(), x.options());  // freed: y's block next
            const at::Tensor got = kernels::hybrid_linear_prefill_kernel(x, w).to(at::kFloat);
            EXPECT_LE((got - want).abs().max().item<double>(), 1e-2 * want.abs().max().item<double>())  // NaN fails too
                << rows << "x" << cols << " (2:4 share " << share << ") at " << tokens << " tokens, N " << n << ", " << mp
                << " SMs, " << kernels::prefill_split_name(split);
          }
      }
    }
    // The stream's flags, reused by every call above, are all down again for the next one.
    EXPECT_EQ(w.prefill_flags(at::cuda::getCurrentCUDAStream().stream(), 1).abs().sum().item<std::int64_t>(), 0);
  }
  EXPECT_GE(multicast_calls, 400) << "most calls must run the multicast kernel, not its whole-tile fallback";
  EXPECT_GE(stream_k_calls, 100) << "many must split the last wave by stream-K";
}

}  // namespace
}  // namespace patchlm
