#pragma once
// hybrid_linear(x, weight): the LibTorch op over the hybrid GEMM, and HybridProj, the strategy that puts it behind
// the Proj seam. A HybridWeight is a packed weight (io/hybrid_layout) living on a CUDA device together with the
// kernel's schedule. Dispatch by token count (docs/performance.md has the measured crossovers): below
// `prefill_from_tokens` the decode kernel (hybrid_gemm.h, memory bound, in chunks of 64 tokens); then up to
// `unpack_from_tokens` the wgmma kernel on Hopper (hybrid_prefill.h); past it the weight unpacked on the device for
// that call (hybrid_unpack.h) under cuBLAS — also from 64 tokens where the wgmma kernel does not run.
// Where the kernel does not run (CPU, fp32, a tile without a kernel), kernels/hybrid_model builds the projection
// dense instead.
#include <map>
#include <memory>
#include <mutex>

#include <ATen/ATen.h>

#include "io/hybrid_layout.h"
#include "kernels/prefill_cost.h"
#include "model/proj.h"

namespace patchlm::kernels {

// The dispatch's crossovers, measured on an H200 (LLaMA-7B shapes, σ = 0–50 %, docs/performance.md "batched and
// prefill GEMM"). The decode kernel's time steps up past 32 tokens; from 33 tokens the wgmma kernel with 64-token
// tiles (128x128 weight tiles) is faster in 33 of the 39 shape × σ × count cases measured at 33–48 tokens (the
// others: σ = 0 — no 2:4 tile — by up to 14 %, and 4096x4096 at σ = 50 % and 33 tokens by 7 %). The other tile
// shapes' wgmma kernel has 128-token tiles only: from 64 tokens, as where no wgmma kernel runs (there unpack + cuBLAS
// from 64). Unpack + cuBLAS takes over where its dense GEMM beats the wgmma kernel, which comes later the more of the
// weight is 2:4 (the wgmma kernel's MMAs halve on 2:4 tiles, cuBLAS's do not).
inline constexpr std::int64_t kDecodeKernelBelowTokens = 64;
inline std::int64_t wgmma_from_tokens(std::int64_t tile_rows, std::int64_t tile_cols) {
  const bool small_tiles = prefill_has_small_and_large_tiles(static_cast<int>(tile_rows), static_cast<int>(tile_cols));
  return small_tiles ? 33 : kDecodeKernelBelowTokens;
}
// By the 2:4 tile share (docs/performance.md, issue 21 step 11): where the wgmma kernel has 256-token tiles (128x128
// weight tiles) it beats unpack + cuBLAS from 2048 to 8192 tokens on all three LLaMA-7B shapes at σ = 25–50 % (at
// 8192 by 1.10–1.37×) and at σ = 0 up to 4096 (by 1.00–1.18×), losing there only at 8192 (by 1–3 %): below 50 % 2:4
// tiles unpack from 8192 tokens, otherwise never. The other tile shapes keep the crossovers measured with 128-token
// tiles (step 9): by the share and the input features — < 50 % 2:4 tiles from 2048 tokens; 50–90 % from 4096, long
// inputs (≥ 8192 features) from 2048; more 2:4 tiles from 4096.
constexpr std::int64_t kNeverUnpack = std::int64_t{1} << 62;
constexpr std::int64_t unpack_from_tokens(double two_four_tile_share, std::int64_t cols, bool large_token_tiles) {
  if (large_token_tiles) return two_four_tile_share < 0.5 ? 8192 : kNeverUnpack;
  if (two_four_tile_share < 0.5) return 2048;
  if (two_four_tile_share < 0.9) return cols >= 8192 ? 2048 : 4096;
  return 4096;
}

enum class HybridPath { decode_kernel, prefill_kernel, unpacked };
const char* hybrid_path_name(HybridPath path);  // "decode kernel", "wgmma prefill kernel", "unpack + cuBLAS"

// Where the wgmma kernel's rule may take the cluster split in this process (kernels/prefill_cost.h ClusterSplitUse):
// kClusterSplitUse — in launches captured into a CUDA graph — unless set (`patchlm bench gemm|e2e --cluster-split`,
// to A/B the rule in one binary).
ClusterSplitUse cluster_split_use();
void set_cluster_split_use(ClusterSplitUse use);
// Whether the wgmma kernel's rule may take the x-multicast split in this process (kernels/prefill_cost.h): yes unless
// set (`patchlm bench gemm|e2e --no-x-multicast`, to A/B the rule in one binary).
bool prefill_multicast_use();
void set_prefill_multicast_use(bool use);
// Whether it may also split that split's last wave by stream-K (prefill_split.h PrefillSplit::multicast_2_stream_k): yes
// unless set (`--no-multicast-stream-k`, likewise).
bool prefill_multicast_stream_k_use();
void set_prefill_multicast_stream_k_use(bool use);
// What the wgmma kernel's rule prices a launch with in this process: the switches above, whether the launch is being
// captured into a CUDA graph, the weight's 2:4 tile share.
PrefillRuleInputs prefill_rule_inputs(bool graph, double two_four_share);

struct HybridWeight {
  TileGrid grid;
  at::Tensor data;                                               // the packed tiles (uint8), see device_layout
  std::int64_t prefill_from_tokens = kDecodeKernelBelowTokens;   // the dispatch's crossovers (tests move them)
  std::int64_t unpack_from_tokens = kernels::unpack_from_tokens(0, 0, false);  // upload_hybrid: by 2:4 tile share and shape
  int prefill_tokens_per_tile = 0;  // 0: the measured rule; one of kTokensPerTileChoices forces it (benchmarks)
  PrefillSplit prefill_split = PrefillSplit::rule;  // the last wave's split: the rule, or forced (benchmarks)
  bool prefill_kernel = false;  // the wgmma prefill kernel runs here (compute capability 9.0, a tile it was built for)
  at::Tensor tile_desc, cta_first_tile, contributors;            // schedule (int32); tile_desc also the prefill's and unpack's
  at::Tensor tile_desc_by_column;  // tile_desc in column order (int32): the prefill's x-multicast split (hybrid_schedule.h)
  std::vector<std::int32_t> row_cost_prefix;  // host: each row block's K-step costs, summed (the prefill's stream-K split)
  double two_four_tile_share = 0;             // of the tiles (the prefill rule prices x multicast by it)
  // `data`'s tiles are in the device layout (docs/format.md "On the GPU"), rewritten in place at upload: on CUDA for
  // the tile shapes the kernels take — which read them only so.
  bool device_layout = false;
  bool shared_row_blocks = false;  // some row block is split over CTAs (reduced by the finish kernel)
  bool weights_by_threads = false;  // copy tiles with cp.async, not bulk copies (the Ampere path; for tests)
  int ctas = 0, stages = 4;
  int multiprocessors = 0;              // of the weight's device (CUDA), for keeping the grid resident
  std::int64_t sm_shared_bytes = 0;

  at::Device device() const { return data.device(); }
  // The path hybrid_linear takes for `tokens` tokens.
  HybridPath path_for(std::int64_t tokens) const;

  // The fp32 reduction workspace of `stream` (zero between calls: the finish kernel re-zeroes it), made on first use.
  // One per stream, so calls on two streams never share one; calls on one stream are ordered by it.
  at::Tensor workspace(void* stream) const;
  // The prefill kernel's stream-K flags of `stream`, at least `count` int32 (zero between calls: each flag a call
  // raises is lowered by the CTA that consumes it), made on first use — no zeroing kernel per call.
  at::Tensor prefill_flags(void* stream, std::int64_t count) const;

 private:
  struct Workspaces {
    std::mutex mutex;
    std::map<void*, at::Tensor> by_stream;
    std::map<void*, at::Tensor> flags_by_stream;
  };
  std::shared_ptr<Workspaces> workspaces_ = std::make_shared<Workspaces>();
};

// Copies `packed` to `device`. ctas = 0: two CTAs per multiprocessor (the next call's CTAs can start while this
// call's finish); stages = 0: a ring of about 96 KiB of weight tiles (3 stages of 128x128 tiles). Both are what the
// autotuner found best for 1–16 tokens on an H200 (docs/performance.md). Each call keeps the grid resident by taking
// fewer stages when its tokens' x slices would not fit (hybrid_stages_that_fit).
HybridWeight upload_hybrid(const hybrid::PackedHybrid& packed, at::Device device, int ctas = 0, int stages = 0);

// Re-plans the same weight for another CTA count / ring depth (the autotuner's knobs).
void reschedule(HybridWeight& weight, const hybrid::PackedHybrid& packed, int ctas, int stages);

// y = x · Wᵀ for x [..., cols] bf16 on the weight's CUDA device, on the path the token count dispatches to. Error on
// the CPU or without the kernel.
at::Tensor hybrid_linear(const at::Tensor& x, const HybridWeight& weight);
// The paths on their own (benchmarks, tests): the decode kernel and unpack + cuBLAS at any token count, the prefill
// kernel where it runs (Error elsewhere).
at::Tensor hybrid_linear_decode_kernel(const at::Tensor& x, const HybridWeight& weight);
at::Tensor hybrid_linear_prefill_kernel(const at::Tensor& x, const HybridWeight& weight);
at::Tensor hybrid_linear_unpacked(const at::Tensor& x, const HybridWeight& weight);
// W ⊙ M as a dense bf16 [rows, cols] on the weight's device (hybrid_unpack.h).
at::Tensor unpack_on_device(const HybridWeight& weight);

// Whether this build and machine can run the kernel ("" = yes, otherwise why not).
std::string hybrid_kernel_unavailable(at::Device device);

// Whether the kernel runs `packed` on `device` ("" = yes, otherwise why not: device, build, tile shape).
std::string hybrid_kernel_unavailable(const hybrid::PackedHybrid& packed, at::Device device);

// The Proj strategy: the packed weight on its CUDA device, bf16 inputs on the kernel (Error naming the projection for
// any other input).
class HybridProj : public ProjStrategy {
 public:
  HybridProj(std::shared_ptr<const hybrid::PackedHybrid> packed, at::Device device);
  at::Tensor forward(const Proj& proj, const at::Tensor& x) override;

  const hybrid::PackedHybrid& packed() const { return *packed_; }
  const HybridWeight& weight() const { return *weight_; }

 private:
  std::shared_ptr<const hybrid::PackedHybrid> packed_;
  std::unique_ptr<HybridWeight> weight_;
};

}  // namespace patchlm::kernels
