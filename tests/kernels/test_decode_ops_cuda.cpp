// The fused decode kernels (kernels/decode_kernels.cu, CUDA bf16) against their ATen references (the same ops on CPU
// fp32 tensors), and the engine on CUDA — dense and on the hybrid kernel, with and without CUDA graphs — against the
// decoder on the CPU. Skipped where no GPU is present.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>

#include "engine/engine.h"
#include "engine/tiny_models.h"
#include "io/hybrid_layout.h"
#include "kernels/decode_ops.h"
#include "kernels/gemm_benchmark.h"
#include "kernels/hybrid_model.h"
#include "model/checkpoint.h"
#include "util/error.h"

namespace patchlm {
namespace {

bool have_gpu() { return at::cuda::is_available(); }
#define SKIP_WITHOUT_GPU() \
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device"

const at::Device kCuda("cuda:0");

at::Tensor on_gpu(const at::Tensor& t) { return t.to(kCuda, at::kBFloat16).contiguous(); }
at::Tensor cpu_f32(const at::Tensor& t) { return t.to(at::kCPU, at::kFloat); }

// |a − b| ≤ tol · max|b| (bf16 rounding of inputs and outputs)
void expect_close(const at::Tensor& got, const at::Tensor& want, double tol, const std::string& what) {
  const double err = (cpu_f32(got) - cpu_f32(want)).abs().max().item<double>();
  const double scale = std::max(1e-6, cpu_f32(want).abs().max().item<double>());
  EXPECT_LE(err, tol * scale) << what << ": max |Δ| " << err << " of max " << scale;
}

TEST(DecodeOpsCuda, RmsNormWithAndWithoutResidualAndPlusOne) {
  SKIP_WITHOUT_GPU();
  at::manual_seed(1);
  for (bool plus_one : {false, true}) {
    const at::Tensor x = on_gpu(at::randn({5, 4096})), w = on_gpu(at::randn({4096}) * 0.3 + (plus_one ? 0 : 1));
    expect_close(kernels::rms_norm(x, w, 1e-6, plus_one), kernels::rms_norm(cpu_f32(x), cpu_f32(w), 1e-6, plus_one), 2e-2, "norm");
    const at::Tensor wide = on_gpu(at::randn({2, 10240})), ww = on_gpu(at::randn({10240}));  // past the one-pass kernel
    expect_close(kernels::rms_norm(wide, ww, 1e-6, plus_one), kernels::rms_norm(cpu_f32(wide), cpu_f32(ww), 1e-6, plus_one),
                 2e-2, "wide norm");
    at::Tensor h = on_gpu(at::randn({3, 2048})), add = on_gpu(at::randn({3, 2048}));
    at::Tensor h_ref = cpu_f32(h);
    const at::Tensor w2 = on_gpu(at::randn({2048}));
    const at::Tensor y = kernels::add_rms_norm(h, add, w2, 1e-5, plus_one);
    const at::Tensor y_ref = kernels::add_rms_norm(h_ref, cpu_f32(add), cpu_f32(w2), 1e-5, plus_one);
    expect_close(h, h_ref, 1e-2, "residual");
    expect_close(y, y_ref, 2e-2, "add + norm");
  }
}

TEST(DecodeOpsCuda, HeadNormsRopeAndCacheWritesMatchTheReference) {
  SKIP_WITHOUT_GPU();
  at::manual_seed(2);
  const std::int64_t n = 6, H = 4, KV = 2, D = 128, S = 40, slots = 3;
  at::Tensor qkv = on_gpu(at::randn({n, (H + 2 * KV) * D}));
  at::Tensor qkv_ref = cpu_f32(qkv);
  const at::Tensor qw = on_gpu(at::randn({D})), kw = on_gpu(at::randn({D}));
  kernels::rms_norm_heads_(qkv, 0, H, D, qw, 1e-6, true);
  kernels::rms_norm_heads_(qkv, H, KV, D, kw, 1e-6, true);
  kernels::rms_norm_heads_(qkv_ref, 0, H, D, cpu_f32(qw), 1e-6, true);
  kernels::rms_norm_heads_(qkv_ref, H, KV, D, cpu_f32(kw), 1e-6, true);
  expect_close(qkv, qkv_ref, 2e-2, "head norms");
  const at::Tensor angles = at::outer(at::arange(S).to(at::kFloat), at::rand({D / 2}));
  const at::Tensor cos = at::cat({angles, angles}, -1).cos(), sin = at::cat({angles, angles}, -1).sin();
  const at::Tensor positions = at::tensor(std::vector<std::int64_t>{0, 5, 39, 7, 7, 12}, at::kLong);
  const at::Tensor where = at::tensor(std::vector<std::int64_t>{2, 0, 1, 2, 1, 0}, at::kLong);
  at::Tensor kc = on_gpu(at::zeros({slots + 1, KV, S, D})), vc = on_gpu(at::zeros({slots + 1, KV, S, D}));
  at::Tensor kc_ref = cpu_f32(kc), vc_ref = cpu_f32(vc);
  qkv_ref = cpu_f32(qkv);
  kernels::rope_and_cache_(qkv, cos.to(kCuda), sin.to(kCuda), positions.to(kCuda), where.to(kCuda), kc, vc, H, KV);
  kernels::rope_and_cache_(qkv_ref, cos, sin, positions, where, kc_ref, vc_ref, H, KV);
  expect_close(qkv.narrow(1, 0, (H + KV) * D), qkv_ref.narrow(1, 0, (H + KV) * D), 1e-2, "rotated q and k, in place");
  expect_close(kc, kc_ref, 1e-2, "k cache");
  expect_close(vc, vc_ref, 1e-2, "v cache");
}

TEST(DecodeOpsCuda, DecodeAttentionOverEachSequencesKeysWithWindowsAndGqa) {
  SKIP_WITHOUT_GPU();
  at::manual_seed(3);
  for (std::int64_t D : {64, 128, 256})
    for (std::int64_t window : {0, 5}) {
      const std::int64_t B = 3, H = 8, KV = 2, S = 70;
      const at::Tensor qkv = on_gpu(at::randn({B, (H + 2 * KV) * D}));
      const at::Tensor kc = on_gpu(at::randn({B + 1, KV, S, D})), vc = on_gpu(at::randn({B + 1, KV, S, D}));
      const at::Tensor positions = at::tensor(std::vector<std::int64_t>{0, 33, 69}, at::kLong);
      const at::Tensor slots = at::tensor(std::vector<std::int64_t>{3, 0, 1}, at::kLong);
      const double scale = 1.0 / std::sqrt(static_cast<double>(D));
      const at::Tensor got =
          kernels::decode_attention(qkv, kc, vc, positions.to(kCuda), slots.to(kCuda), H, KV, scale, window);
      const at::Tensor want =
          kernels::decode_attention(cpu_f32(qkv), cpu_f32(kc), cpu_f32(vc), positions, slots, H, KV, scale, window);
      expect_close(got, want, 2e-2, str_cat("attention D=", D, " window ", window));
    }
}

TEST(DecodeOpsCuda, GatedActivations) {
  SKIP_WITHOUT_GPU();
  at::manual_seed(4);
  const at::Tensor gu = on_gpu(at::randn({4, 2 * 1000}) * 3);
  for (bool gelu : {false, true})
    expect_close(kernels::gated_activation(gu, gelu), kernels::gated_activation(cpu_f32(gu), gelu), 2e-2, gelu ? "gelu" : "silu");
}

// Logits of the engine for a prompt and a few decode steps [steps, vocab].
at::Tensor engine_logits(Engine& e, const std::vector<std::int64_t>& prompt, const std::vector<std::int64_t>& next) {
  std::vector<at::Tensor> rows{cpu_f32(e.prefill(0, prompt))};
  for (std::size_t i = 0; i < next.size(); ++i)
    rows.push_back(cpu_f32(e.decode({next[i]}, {static_cast<std::int64_t>(prompt.size() + i)}, {0})[0]));
  return at::stack(rows);
}

class EngineCuda : public ::testing::TestWithParam<Family> {};

TEST_P(EngineCuda, Bf16WithGraphsMatchesTheCpuEngineAndEagerCuda) {
  SKIP_WITHOUT_GPU();
  const Checkpoint c = testing::tiny_checkpoint(GetParam(), 5, /*head_dim=*/64);
  EngineOptions o;
  o.max_context = 32;
  o.graph_prefill_tokens = 512;  // whatever the default
  Engine cpu(std::make_unique<Decoder>(c, at::kFloat, at::kCPU), o);
  Engine graphs(std::make_unique<Decoder>(c, at::kBFloat16, kCuda), o);
  o.graph_prefill_tokens = 0;
  Engine decode_graphs(std::make_unique<Decoder>(c, at::kBFloat16, kCuda), o);
  o.cuda_graphs = false;
  Engine eager(std::make_unique<Decoder>(c, at::kBFloat16, kCuda), o);
  const std::vector<std::int64_t> prompt = {5, 17, 3, 44, 9, 12}, next = {7, 8, 90, 2, 33};
  const at::Tensor want = engine_logits(cpu, prompt, next);
  const at::Tensor with_eager = engine_logits(eager, prompt, next);
  // Decode graphs replay exactly what the eager steps compute; a prefill graph runs the prompt padded to 16 rows,
  // whose GEMMs may sum in another order than 6 rows' — bf16 noise, not more.
  EXPECT_TRUE(at::equal(engine_logits(decode_graphs, prompt, next), with_eager)) << "decode graph replay differs from eager";
  EXPECT_EQ(decode_graphs.prefill_graphs_captured(), 0);
  const at::Tensor with_graphs = engine_logits(graphs, prompt, next);
  EXPECT_EQ(graphs.prefill_graphs_captured(), 1);
  EXPECT_GE(graphs.graphs_captured(), 1);
  expect_close(with_graphs, with_eager, 2e-2, "prefill graph vs eager");
  expect_close(with_graphs, want, 5e-2, "bf16 CUDA vs f32 CPU");
}

// Prompts of one token bucket share its prefill graph: each into its own slot, the padding rows into the spare slot
// only — two sequences prefilled by the graph then decode together as after eager prefills; a prompt past the graphs'
// limit runs eagerly.
TEST_P(EngineCuda, PrefillGraphsKeepEverySlotApart) {
  SKIP_WITHOUT_GPU();
  const Checkpoint c = testing::tiny_checkpoint(GetParam(), 8, /*head_dim=*/64);
  EngineOptions o;
  o.max_batch = 3;
  o.max_context = 40;
  o.graph_prefill_tokens = 16;
  Engine graphs(std::make_unique<Decoder>(c, at::kBFloat16, kCuda), o);
  o.cuda_graphs = false;
  Engine eager(std::make_unique<Decoder>(c, at::kBFloat16, kCuda), o);
  const std::vector<std::vector<std::int64_t>> prompts = {{4, 8, 15, 16, 23, 42}, {9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19},
                                                          std::vector<std::int64_t>(20, 7)};
  const std::vector<std::int64_t> slots = {2, 0, 1};
  for (int round = 0; round < 2; ++round)  // the first captures, the second replays
    for (std::size_t i = 0; i < prompts.size(); ++i)
      expect_close(cpu_f32(graphs.prefill(slots[i], prompts[i])), cpu_f32(eager.prefill(slots[i], prompts[i])), 2e-2,
                   str_cat("prefill of prompt ", i, ", round ", round));
  EXPECT_EQ(graphs.prefill_graphs_captured(), 1);  // 6 and 11 tokens: bucket 16; 20 tokens: past the limit, eager
  const std::vector<std::int64_t> tokens = {3, 5, 7}, positions = {6, 11, 20};
  expect_close(cpu_f32(graphs.decode(tokens, positions, slots)), cpu_f32(eager.decode(tokens, positions, slots)), 2e-2,
               "decode of the three after their prefills");
}

// Several prompts in one prefill pass (shared and separate attention batches, the sliding window) on the GPU in bf16:
// each prompt's logits as the f32 CPU engine gives them for the same pass, and within bf16 noise of its own pass.
TEST_P(EngineCuda, OnePrefillPassOfSeveralPromptsMatchesTheCpu) {
  SKIP_WITHOUT_GPU();
  const Checkpoint c = testing::tiny_checkpoint(GetParam(), 7, /*head_dim=*/64);
  EngineOptions o;
  o.max_batch = 4;
  o.max_context = 32;
  Engine cpu(std::make_unique<Decoder>(c, at::kFloat, at::kCPU), o);
  Engine gpu(std::make_unique<Decoder>(c, at::kBFloat16, kCuda), o);
  const std::vector<std::vector<std::int64_t>> prompts = {{5, 17, 3, 44, 9, 12}, {8}, {70, 71, 72, 73, 74}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}};
  const std::vector<std::int64_t> slots = {2, 0, 3, 1};
  const at::Tensor together = cpu_f32(gpu.prefill(slots, prompts));
  expect_close(together, cpu_f32(cpu.prefill(slots, prompts)), 5e-2, "one pass, bf16 CUDA vs f32 CPU");
  for (std::size_t i = 0; i < prompts.size(); ++i)
    expect_close(together[static_cast<std::int64_t>(i)], cpu_f32(gpu.prefill(slots[i], prompts[i])), 5e-2,
                 str_cat("prompt ", i, ": one pass vs its own"));
}

INSTANTIATE_TEST_SUITE_P(Families, EngineCuda, ::testing::Values(Family::llama, Family::qwen2, Family::gemma3),
                         [](const auto& info) { return std::string(traits(info.param).model_type); });

// A hybrid checkpoint (PATCH-like tiles, fused q/k/v and gate/up on the hybrid kernel) against the masked dense model.
TEST(EngineCuda, HybridCheckpointMatchesTheMaskedDenseModel) {
  SKIP_WITHOUT_GPU();
  // Dimensions the 128x128 tile divides: hidden 256, 4 heads of 64, 2 kv heads, intermediate 512.
  Checkpoint dense = testing::tiny_checkpoint(Family::llama, 6, /*head_dim=*/64, /*hidden=*/256, /*intermediate=*/512);
  Checkpoint hybrid = dense;
  std::uint64_t seed = 1;
  for (auto& [name, w] : dense.tensors) {
    if (!is_projection_weight(name)) continue;
    const at::Tensor bits = w.to(at::kBFloat16).contiguous();
    const std::vector<std::uint8_t> keep = kernels::patch_like_mask(w.size(0), w.size(1), 0.7, seed++);
    auto packed = std::make_shared<hybrid::PackedHybrid>(
        hybrid::pack(static_cast<const std::uint16_t*>(bits.data_ptr()), keep.data(), {w.size(0), w.size(1), {128, 128}}));
    hybrid.tensors.erase(name);
    w = unpack_hybrid_weight(*packed).to(at::kFloat);  // the masked dense weight, exactly
    hybrid.hybrid[name] = packed;
  }
  EngineOptions o;
  o.max_context = 64;
  o.graph_prefill_tokens = 512;
  Engine reference(std::make_unique<Decoder>(dense, at::kFloat, at::kCPU), o);
  Engine dense_bf16(std::make_unique<Decoder>(dense, at::kBFloat16, kCuda), o);
  int packed = 0;
  auto hybrid_engine = [&](const EngineOptions& options) {
    return Engine(std::make_unique<Decoder>(hybrid, at::kBFloat16, kCuda, kernels::hybrid_proj_builder(hybrid, kCuda, &packed)),
                  options);
  };
  Engine engine = hybrid_engine(o);
  EXPECT_EQ(packed, 7 * dense.config.num_layers);
  o.graph_prefill_tokens = 0;
  Engine decode_graphs = hybrid_engine(o);
  o.cuda_graphs = false;
  Engine eager = hybrid_engine(o);
  // 5 tokens: the decode kernel in a prefill graph of 16 rows; 40: the prefill kernel in one of 48 (sm_90a: wgmma).
  // The yardstick is the dense bf16 engine on the same masked weights: bf16 rounding through 6 layers and 3 decode
  // steps alone moves these logits by up to ~9 % of their largest (H100 and H200, 40-token prompt: 0.80 of 8.6), so
  // the hybrid engine must be as close to the f32 model as it, and the graphs replay what the eager passes compute.
  for (const std::int64_t length : {5, 40}) {
    std::vector<std::int64_t> prompt;
    for (std::int64_t t = 0; t < length; ++t) prompt.push_back((t * 37 + 3) % 96);
    const std::vector<std::int64_t> next = {35, 89, 79};
    const std::string what = str_cat(length, "-token prompt: ");
    const at::Tensor want = engine_logits(reference, prompt, next), with_eager = engine_logits(eager, prompt, next);
    const double scale = want.abs().max().item<double>();
    const double dense_err = (engine_logits(dense_bf16, prompt, next) - want).abs().max().item<double>();
    const double hybrid_err = (with_eager - want).abs().max().item<double>();
    EXPECT_LE(hybrid_err, 1.25 * dense_err + 1e-2 * scale)
        << what << "hybrid engine " << hybrid_err << " from the f32 model, dense bf16 " << dense_err << " (max " << scale << ")";
    expect_close(with_eager, want, 1e-1, what + "eager hybrid engine vs the masked dense model");
    expect_close(engine_logits(decode_graphs, prompt, next), with_eager, 2e-2, what + "decode graphs vs eager");
    expect_close(engine_logits(engine, prompt, next), with_eager, 2e-2, what + "prefill graphs vs eager");
  }
  EXPECT_EQ(engine.prefill_graphs_captured(), 2);
}

}  // namespace
}  // namespace patchlm
