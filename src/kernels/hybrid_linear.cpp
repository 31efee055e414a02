#include "kernels/hybrid_linear.h"

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "kernels/hybrid_gemm.h"  // no CUDA types: kHybridMaxTokens sizes the workspace in every build
#include "kernels/hybrid_schedule.h"
#include "kernels/hybrid_unpack.h"
#include "util/error.h"

#if PATCHLM_HAVE_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/device_check.h"
#include "kernels/hybrid_prefill.h"
#endif

namespace patchlm::kernels {
namespace {

// About 96 KiB of weight tiles in flight per CTA: 3 stages of 128x128 tiles, 6 of 128x64 / 64x128, 12 of 64x64.
int default_stages(const TileGrid& grid) {
  const std::int64_t tile_bytes = grid.dense_tile_bytes();
  for (int stages : {12, 8, 6, 4, 3})
    if (stages * tile_bytes <= 96 * 1024) return stages;
  return 3;
}

#if PATCHLM_HAVE_CUDA
// x as the kernels take it: [tokens, cols] bf16 on the weight's device, contiguous, 16-byte aligned.
at::Tensor checked_rows(const at::Tensor& x, const HybridWeight& w) {
  if (!w.device().is_cuda()) throw Error("hybrid_linear: the hybrid kernel runs on CUDA devices only");
  if (x.scalar_type() != at::kBFloat16 || x.device() != w.device())
    throw Error(str_cat("hybrid_linear: x must be bf16 on ", w.device(), ", got ", x.scalar_type(), " on ",
                        x.device()));
  if (x.dim() < 1 || x.size(-1) != w.grid.cols)
    throw Error(str_cat("hybrid_linear: x has ", x.size(-1), " features, the weight takes ", w.grid.cols));
  at::Tensor x2 = x.reshape({-1, w.grid.cols}).contiguous();
  if (reinterpret_cast<std::uintptr_t>(x2.data_ptr()) % 16 != 0) x2 = x2.clone();
  return x2;
}

// The launch fields the prefill and unpack kernels share: the packed tiles, their descriptors, the grid.
template <typename Plan>
Plan tile_table_plan(const HybridWeight& w) {
  Plan p;
  p.data = w.data.data_ptr<std::uint8_t>();
  p.tile_desc = reinterpret_cast<const std::uint32_t*>(w.tile_desc.data_ptr<std::int32_t>());
  p.rows = w.grid.rows;
  p.cols = w.grid.cols;
  p.tile_height = static_cast<int>(w.grid.tile.rows);
  p.tile_width = static_cast<int>(w.grid.tile.cols);
  return p;
}

// y [tokens, rows] back into x's leading shape.
at::Tensor shaped_like(const at::Tensor& y, const at::Tensor& x, const HybridWeight& w) {
  std::vector<std::int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = w.grid.rows;
  return y.reshape(shape);
}
#endif

at::Tensor to_device_int32(const std::vector<std::int32_t>& v, at::Device device) {
  return at::from_blob(const_cast<std::int32_t*>(v.data()), {static_cast<std::int64_t>(v.size())}, at::kInt)
      .to(device, /*non_blocking=*/false, /*copy=*/true);
}

#if PATCHLM_HAVE_CUDA
// The uploaded tiles rewritten into the device layout (after the schedule: the rewrite finds each tile through
// tile_desc).
void to_device_layout(HybridWeight& w) {
  HybridUnpackPlan p = tile_table_plan<HybridUnpackPlan>(w);
  p.tile_count = w.grid.tile_count();
  if (std::string err = hybrid_to_device_layout(p, w.data.data_ptr<std::uint8_t>(),
                                                at::cuda::getCurrentCUDAStream().stream());
      !err.empty())
    throw Error("hybrid weight: " + err);
  // The GEMM kernels are dependent launches that read weights before waiting for the kernel before them
  // (kernels/dependent_launch.h): the rewrite must be complete before one of them can be that next kernel. Once per
  // weight, at upload.
  at::cuda::getCurrentCUDAStream().synchronize();
  w.device_layout = true;
}

HybridGemmPlan plan_of(const HybridWeight& w) {
  HybridGemmPlan p;
  p.data = w.data.data_ptr<std::uint8_t>();
  p.tile_desc = reinterpret_cast<const std::uint32_t*>(w.tile_desc.data_ptr<std::int32_t>());
  p.cta_first_tile = w.cta_first_tile.data_ptr<std::int32_t>();
  p.contributors = w.contributors.data_ptr<std::int32_t>();
  p.shared_row_blocks = w.shared_row_blocks;
  p.weights_by_threads = w.weights_by_threads;
  p.ctas = w.ctas;
  p.rows = w.grid.rows;
  p.cols = w.grid.cols;
  p.tile_height = static_cast<int>(w.grid.tile.rows);
  p.tile_width = static_cast<int>(w.grid.tile.cols);
  p.stages = w.stages;
  return p;
}
#endif

}  // namespace

const char* hybrid_path_name(HybridPath path) {
  switch (path) {
    case HybridPath::decode_kernel: return "decode kernel";
    case HybridPath::prefill_kernel: return "wgmma prefill kernel";
    case HybridPath::unpacked: break;
  }
  return "unpack + cuBLAS";
}

namespace {
std::atomic<ClusterSplitUse> cluster_split_setting{kClusterSplitUse};
std::atomic<bool> multicast_setting{true};
std::atomic<bool> multicast_stream_k_setting{true};
}  // namespace

PrefillRuleInputs prefill_rule_inputs(bool graph, double two_four_share) {
  PrefillRuleInputs in;
  in.graph = graph;
  in.cluster_split = cluster_split_use();
  in.two_four_share = two_four_share;
  in.multicast = prefill_multicast_use();
  in.multicast_stream_k = prefill_multicast_stream_k_use();
  return in;
}

bool prefill_multicast_stream_k_use() { return multicast_stream_k_setting.load(std::memory_order_relaxed); }
void set_prefill_multicast_stream_k_use(bool use) { multicast_stream_k_setting.store(use, std::memory_order_relaxed); }

bool prefill_multicast_use() { return multicast_setting.load(std::memory_order_relaxed); }
void set_prefill_multicast_use(bool use) { multicast_setting.store(use, std::memory_order_relaxed); }

ClusterSplitUse cluster_split_use() { return cluster_split_setting.load(std::memory_order_relaxed); }
void set_cluster_split_use(ClusterSplitUse use) { cluster_split_setting.store(use, std::memory_order_relaxed); }

HybridPath HybridWeight::path_for(std::int64_t tokens) const {
  if (prefill_kernel && tokens >= prefill_from_tokens)
    return tokens < unpack_from_tokens ? HybridPath::prefill_kernel : HybridPath::unpacked;
  return tokens < kDecodeKernelBelowTokens ? HybridPath::decode_kernel : HybridPath::unpacked;
}

namespace {

// The zeroed buffer `by_stream` keeps for `stream`, made with `make` elements on first use or when it has fewer than
// `at_least` (the caller holds the lock).
at::Tensor stream_buffer(std::map<void*, at::Tensor>& by_stream, void* stream, std::int64_t at_least,
                         std::int64_t make, const at::TensorOptions& options) {
  at::Tensor& b = by_stream[stream];
  if (!b.defined() || b.numel() < at_least) b = at::zeros({std::max(at_least, make)}, options);
  return b;
}

}  // namespace

at::Tensor HybridWeight::workspace(void* stream) const {
  std::lock_guard lock(workspaces_->mutex);
  const std::int64_t n = grid.rows * kHybridMaxTokens;
  return stream_buffer(workspaces_->by_stream, stream, n, n, at::TensorOptions().dtype(at::kFloat).device(device()));
}

at::Tensor HybridWeight::prefill_flags(void* stream, std::int64_t count) const {
  std::lock_guard lock(workspaces_->mutex);
  return stream_buffer(workspaces_->flags_by_stream, stream, count, multiprocessors,
                       at::TensorOptions().dtype(at::kInt).device(device()));
}

std::string hybrid_kernel_unavailable(at::Device device) {
#if PATCHLM_HAVE_CUDA
  if (!device.is_cuda()) return "the hybrid kernel runs on CUDA devices only";
  if (!at::cuda::is_available()) return "no CUDA device";
  const auto* prop = at::cuda::getDeviceProperties(device.has_index() ? device.index() : at::cuda::current_device());
  if (prop->major < 8) return "the hybrid kernel needs compute capability 8.0 or newer";
  return {};
#else
  (void)device;
  return "this patchlm was built without the CUDA kernels";
#endif
}

void reschedule(HybridWeight& w, const hybrid::PackedHybrid& packed, int ctas, int stages) {
  hybrid::Schedule s = hybrid::make_schedule(packed, ctas);
  at::Device device = w.data.device();
  std::vector<std::int32_t> desc(s.tile_desc.begin(), s.tile_desc.end());  // bit patterns kept
  w.tile_desc = to_device_int32(desc, device);
  w.tile_desc_by_column = to_device_int32(std::vector<std::int32_t>(s.tile_desc_by_column.begin(), s.tile_desc_by_column.end()), device);
  w.cta_first_tile = to_device_int32(s.cta_first_tile, device);
  w.contributors = to_device_int32(s.contributors, device);
  w.shared_row_blocks = std::any_of(s.contributors.begin(), s.contributors.end(), [](std::int32_t c) { return c > 1; });
  w.ctas = ctas;
  w.stages = stages;
}

HybridWeight upload_hybrid(const hybrid::PackedHybrid& packed, at::Device device, int ctas, int stages) {
  // Checked once here, so a CUDA HybridWeight is always one the kernel can run (hybrid_linear need not ask again).
  if (device.is_cuda())
    if (std::string why = hybrid_kernel_unavailable(device); !why.empty()) throw Error("hybrid weight: " + why);
  hybrid::validate(packed, "hybrid weight");
  HybridWeight w;
  w.grid = packed.grid;
  const bool large_token_tiles =
      prefill_has_small_and_large_tiles(static_cast<int>(packed.grid.tile.rows), static_cast<int>(packed.grid.tile.cols));
  w.two_four_tile_share = packed.two_four_tile_share();
  w.unpack_from_tokens = unpack_from_tokens(w.two_four_tile_share, packed.grid.cols, large_token_tiles);
  w.prefill_from_tokens = wgmma_from_tokens(packed.grid.tile.rows, packed.grid.tile.cols);
  // The stream-K split's step costs, from the tiles' kinds (a row block stores its 2:4 tiles first); the autotuner's
  // reschedules leave them as they are.
  const std::int64_t tiles_per_row = packed.grid.cols / packed.grid.tile.cols;
  w.row_cost_prefix = row_step_cost_prefix(packed.grid.rows / packed.grid.tile.rows, tiles_per_row, [&](std::int64_t i) {
    return i % tiles_per_row < packed.sparse_tiles[static_cast<std::size_t>(i / tiles_per_row)];
  });
  w.data = at::from_blob(const_cast<std::uint8_t*>(packed.data.data()), {static_cast<std::int64_t>(packed.data.size())},
                         at::kByte)
               .to(device, false, true);
#if PATCHLM_HAVE_CUDA
  if (device.is_cuda()) {
    c10::cuda::CUDAGuard guard(device);
    w.multiprocessors = device_multiprocessors();
    const auto* prop = at::cuda::getDeviceProperties(device.has_index() ? device.index() : at::cuda::current_device());
    w.prefill_kernel = prop->major == 9 && hybrid_prefill_tile_supported(static_cast<int>(packed.grid.tile.rows),
                                                                         static_cast<int>(packed.grid.tile.cols));
    w.sm_shared_bytes = device_shared_bytes_per_multiprocessor();
  }
#endif
  if (ctas <= 0) ctas = std::max(1, 2 * w.multiprocessors);
  if (stages <= 0) stages = default_stages(packed.grid);
  reschedule(w, packed, ctas, stages);
#if PATCHLM_HAVE_CUDA
  // The kernels read tiles only in the device layout: every weight they can run is rewritten.
  const TileShape& tile = packed.grid.tile;
  if (device.is_cuda() && hybrid_tile_supported(static_cast<int>(tile.rows), static_cast<int>(tile.cols))) {
    c10::cuda::CUDAGuard guard(device);
    to_device_layout(w);
  }
#endif
  return w;
}

std::string hybrid_kernel_unavailable(const hybrid::PackedHybrid& packed, at::Device device) {
  if (std::string why = hybrid_kernel_unavailable(device); !why.empty()) return why;
#if PATCHLM_HAVE_CUDA
  const TileShape& t = packed.grid.tile;
  if (!hybrid_tile_supported(static_cast<int>(t.rows), static_cast<int>(t.cols)))
    return str_cat("no hybrid kernel was built for ", t.name(), " tiles");
#else
  (void)packed;
#endif
  return {};
}

#if PATCHLM_HAVE_CUDA
at::Tensor hybrid_linear(const at::Tensor& x, const HybridWeight& w) {
  const std::int64_t tokens = x.dim() < 1 || x.size(-1) == 0 ? 0 : x.numel() / x.size(-1);
  switch (w.path_for(tokens)) {
    case HybridPath::decode_kernel: return hybrid_linear_decode_kernel(x, w);
    case HybridPath::prefill_kernel: return hybrid_linear_prefill_kernel(x, w);
    case HybridPath::unpacked: break;
  }
  return hybrid_linear_unpacked(x, w);
}

at::Tensor hybrid_linear_decode_kernel(const at::Tensor& x, const HybridWeight& w) {
  at::Tensor x2 = checked_rows(x, w);
  c10::cuda::CUDAGuard guard(w.device());
  const std::int64_t tokens = x2.size(0);
  at::Tensor y = at::empty({tokens, w.grid.rows}, x.options());
  HybridGemmPlan plan = plan_of(w);
  void* stream = at::cuda::getCurrentCUDAStream().stream();
  plan.workspace = w.workspace(stream).data_ptr<float>();
  const int ctas_per_sm = w.multiprocessors > 0 ? (w.ctas + w.multiprocessors - 1) / w.multiprocessors : 1;
  const auto* xp = static_cast<const std::uint8_t*>(x2.data_ptr());
  auto* yp = static_cast<std::uint8_t*>(y.data_ptr());
  for (std::int64_t start = 0; start < tokens; start += kHybridMaxTokens) {
    int n = static_cast<int>(std::min<std::int64_t>(kHybridMaxTokens, tokens - start));
    plan.stages = hybrid_stages_that_fit(plan.tile_height, plan.tile_width, n, w.stages, ctas_per_sm, w.sm_shared_bytes);
    std::string err = hybrid_gemm(plan, xp + start * w.grid.cols * 2, yp + start * w.grid.rows * 2, n, stream);
    if (!err.empty()) throw Error("hybrid_linear: " + err);
  }
  return shaped_like(y, x, w);
}

at::Tensor hybrid_linear_prefill_kernel(const at::Tensor& x, const HybridWeight& w) {
  if (!w.prefill_kernel)
    throw Error(str_cat("hybrid_linear: no prefill kernel for ", w.grid.tile.name(), " tiles on this device"));
  at::Tensor x2 = checked_rows(x, w);
  c10::cuda::CUDAGuard guard(w.device());
  at::Tensor y = at::empty({x2.size(0), w.grid.rows}, x.options());
  HybridPrefillPlan p = tile_table_plan<HybridPrefillPlan>(w);
  p.multiprocessors = w.multiprocessors;
  p.tokens_per_tile = w.prefill_tokens_per_tile;
  p.split = w.prefill_split;
  p.row_cost_prefix = w.row_cost_prefix.data();
  p.tile_desc_by_column = reinterpret_cast<const std::uint32_t*>(w.tile_desc_by_column.data_ptr<std::int32_t>());
  cudaStream_t stream = at::cuda::getCurrentCUDAStream().stream();
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  const bool asked = cudaStreamIsCapturing(stream, &capture) == cudaSuccess;
  if (!asked) (void)cudaGetLastError();  // not the launch's error; taken as eager
  p.rule = prefill_rule_inputs(asked && capture == cudaStreamCaptureStatusActive, w.two_four_tile_share);
  at::Tensor partials;  // stream-K's partial sums, from the caching allocator; its flags stay with the stream
  if (const HybridPrefillWorkspace need = hybrid_prefill_workspace(p, x2.size(0)); need.flags > 0) {
    partials = at::empty({need.partial_floats}, x.options().dtype(at::kFloat));
    p.partials = partials.data_ptr<float>();
    p.flags = w.prefill_flags(stream, need.flags).data_ptr<int>();
  }
  if (std::string err = hybrid_prefill(p, x2.data_ptr(), y.data_ptr(), x2.size(0), stream); !err.empty())
    throw Error("hybrid_linear: " + err);
  return shaped_like(y, x, w);
}

at::Tensor unpack_on_device(const HybridWeight& w) {
  if (!w.device().is_cuda()) throw Error("hybrid unpack: the weight is not on a CUDA device");
  c10::cuda::CUDAGuard guard(w.device());
  at::Tensor dense = at::empty({w.grid.rows, w.grid.cols}, at::TensorOptions().dtype(at::kBFloat16).device(w.device()));
  HybridUnpackPlan p = tile_table_plan<HybridUnpackPlan>(w);
  p.tile_count = w.grid.tile_count();
  p.device_layout = w.device_layout;
  if (std::string err = hybrid_unpack(p, dense.data_ptr(), at::cuda::getCurrentCUDAStream().stream()); !err.empty())
    throw Error(err);
  return dense;
}

at::Tensor hybrid_linear_unpacked(const at::Tensor& x, const HybridWeight& w) {
  const at::Tensor x2 = checked_rows(x, w);
  // The dense weight lives for this call only; the caching allocator hands the same block to the next layer.
  return shaped_like(at::mm(x2, unpack_on_device(w).t()), x, w);
}

#else
namespace {
[[noreturn]] void without_cuda() { throw Error("hybrid_linear: this patchlm was built without the CUDA kernels"); }
}  // namespace

at::Tensor hybrid_linear(const at::Tensor&, const HybridWeight&) { without_cuda(); }
at::Tensor hybrid_linear_decode_kernel(const at::Tensor&, const HybridWeight&) { without_cuda(); }
at::Tensor hybrid_linear_prefill_kernel(const at::Tensor&, const HybridWeight&) { without_cuda(); }
at::Tensor unpack_on_device(const HybridWeight&) { without_cuda(); }
at::Tensor hybrid_linear_unpacked(const at::Tensor&, const HybridWeight&) { without_cuda(); }
#endif

HybridProj::HybridProj(std::shared_ptr<const hybrid::PackedHybrid> packed, at::Device device)
    : packed_(std::move(packed)) {
  if (std::string why = hybrid_kernel_unavailable(*packed_, device); !why.empty()) throw Error("hybrid projection: " + why);
  weight_ = std::make_unique<HybridWeight>(upload_hybrid(*packed_, device));
}

at::Tensor HybridProj::forward(const Proj& proj, const at::Tensor& x) {
  if (x.scalar_type() != at::kBFloat16 || x.device() != weight_->device())
    throw Error(str_cat(proj.name(), ": the hybrid kernel takes bf16 inputs on ", weight_->device(), ", got ",
                        x.scalar_type(), " on ", x.device()));
  at::Tensor y = hybrid_linear(x, *weight_);
  return proj.bias().defined() ? y + proj.bias() : y;
}

}  // namespace patchlm::kernels
