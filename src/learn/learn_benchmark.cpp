#include "learn/learn_benchmark.h"

#include <ATen/DeviceAccelerator.h>
#include <sys/resource.h>

#include <cstdio>

#include "io/model_config.h"
#include "learn/distributed.h"
#include "learn/logit_adamw.h"
#include "learn/priors.h"
#include "learn/step_profile.h"
#include "learn/trainer.h"
#include "util/error.h"
#include "util/python_baseline.h"

#if __has_include(<ATen/cuda/CUDAContext.h>)
#include <ATen/cuda/CUDAContext.h>
#define PATCHLM_BENCH_CUDA_NAME 1
#endif

namespace patchlm {
namespace {

// HF config.json of each shape (the reference script has the same table).
nlohmann::json shape_config(const std::string& shape) {
  nlohmann::json c = {{"model_type", "llama"}, {"max_position_embeddings", 131072}, {"rms_norm_eps", 1e-5},
                      {"tie_word_embeddings", true}, {"hidden_act", "silu"}};
  if (shape == "llama-3.2-1b") {
    c.update({{"hidden_size", 2048}, {"intermediate_size", 8192}, {"num_hidden_layers", 16}, {"num_attention_heads", 32},
              {"num_key_value_heads", 8}, {"head_dim", 64}, {"vocab_size", 128256}, {"rope_theta", 500000.0}});
  } else if (shape == "llama-2-7b") {
    c.update({{"hidden_size", 4096}, {"intermediate_size", 11008}, {"num_hidden_layers", 32}, {"num_attention_heads", 32},
              {"num_key_value_heads", 32}, {"vocab_size", 32000}, {"rope_theta", 10000.0}, {"tie_word_embeddings", false}});
  } else if (shape == "llama-3.1-8b") {
    c.update({{"hidden_size", 4096}, {"intermediate_size", 14336}, {"num_hidden_layers", 32}, {"num_attention_heads", 32},
              {"num_key_value_heads", 8}, {"vocab_size", 128256}, {"rope_theta", 500000.0}, {"tie_word_embeddings", false}});
  } else if (shape == "smollm2-135m") {
    c.update({{"hidden_size", 576}, {"intermediate_size", 1536}, {"num_hidden_layers", 30}, {"num_attention_heads", 9},
              {"num_key_value_heads", 3}, {"vocab_size", 49152}, {"rope_theta", 100000.0}, {"max_position_embeddings", 8192}});
  } else {
    throw UsageError(str_cat("--shape: ", shape, " is not one of llama-3.2-1b, llama-2-7b, llama-3.1-8b, smollm2-135m"));
  }
  return c;
}

// Random bf16 weights (N(0, 0.02), norms 1) under the HF names the decoder expects.
Checkpoint random_checkpoint(const ModelConfig& c, at::Device device) {
  Checkpoint ck;
  ck.config = c;
  const auto o = at::TensorOptions().dtype(at::kBFloat16).device(device);
  const std::int64_t H = c.hidden_size, I = c.intermediate_size, D = c.head_dim;
  auto w = [&](std::int64_t r, std::int64_t k) { return at::randn({r, k}, o) * 0.02; };
  ck.tensors["model.embed_tokens.weight"] = w(c.vocab_size, H);
  if (!c.tie_word_embeddings) ck.tensors["lm_head.weight"] = w(c.vocab_size, H);
  ck.tensors["model.norm.weight"] = at::ones({H}, o);
  for (std::int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    ck.tensors[p + "input_layernorm.weight"] = at::ones({H}, o);
    ck.tensors[p + "post_attention_layernorm.weight"] = at::ones({H}, o);
    ck.tensors[p + "self_attn.q_proj.weight"] = w(c.num_heads * D, H);
    ck.tensors[p + "self_attn.k_proj.weight"] = w(c.num_kv_heads * D, H);
    ck.tensors[p + "self_attn.v_proj.weight"] = w(c.num_kv_heads * D, H);
    ck.tensors[p + "self_attn.o_proj.weight"] = w(H, c.num_heads * D);
    ck.tensors[p + "mlp.gate_proj.weight"] = w(I, H);
    ck.tensors[p + "mlp.up_proj.weight"] = w(I, H);
    ck.tensors[p + "mlp.down_proj.weight"] = w(H, I);
  }
  return ck;
}

double peak_memory_gib(const at::Device& device) {
  if (device.is_cuda()) {
    return static_cast<double>(at::accelerator::getDeviceStats(device.index()).allocated_bytes[0].peak) / (1 << 30);
  }
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / (1 << 20);  // KiB → GiB (the process's peak so far)
}

std::string device_name(const at::Device& device) {
#ifdef PATCHLM_BENCH_CUDA_NAME
  if (device.is_cuda()) return at::cuda::getDeviceProperties(device.index())->name;
#endif
  return device.is_cuda() ? "cuda" : "cpu";
}

at::Device bench_device(const LearnBenchOptions& o) {
  if (o.device.empty()) return at::hasCUDA() ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
  at::Device d(o.device);
  if (d.is_cuda() && !d.has_index()) d = at::Device(at::kCUDA, 0);
  return d;
}

// The reference's figures per micro-batch ({"<micro>": {...}}), or null.
nlohmann::json run_reference(const LearnBenchOptions& o, const at::Device& device) {
  std::string micros;
  for (std::int64_t m : o.micros) micros += (micros.empty() ? "" : ",") + std::to_string(m);
  return run_python_baseline(o.python, find_baseline_script("bench/learn_reference.py", o.baseline_script),
                             str_cat("--shape ", o.shape, " --mode ", mode_name(o.mode), " --device ", device.str(),
                                     " --seq ", o.seq, " --micros ", micros, " --steps ", o.steps),
                             "the reference approach on " + o.shape);
}

}  // namespace

void validate_learn_bench(const LearnBenchOptions& o) {
  shape_config(o.shape);
  parse_state_dtype(o.state_dtype);
  if (o.seq < 2) throw UsageError(str_cat("--seq: must be at least 2, got ", o.seq));
  if (o.steps < 1) throw UsageError(str_cat("--steps: must be positive, got ", o.steps));
  if (o.checkpoint_blocks < -1) throw UsageError(str_cat("--checkpoint-blocks: must be >= -1, got ", o.checkpoint_blocks));
  if (o.micros.empty()) throw UsageError("--micro: give at least one micro-batch size");
  for (std::int64_t m : o.micros)
    if (m < 1) throw UsageError(str_cat("--micro: must be positive, got ", m));
  if (!o.device.empty()) {
    const at::Device d = [&] {
      try {
        return at::Device(o.device);
      } catch (const std::exception&) {
        throw UsageError(str_cat("--device: '", o.device, "' is not cpu or cuda[:N]"));
      }
    }();
    if (d.is_cuda() && !at::hasCUDA()) throw UsageError("--device cuda: no CUDA device here");
  }
}

nlohmann::ordered_json run_learn_benchmark(const LearnBenchOptions& o) {
  at::Device device = bench_device(o);
  TrainerOptions ranks;  // this process's place in a launched run (or one process)
  const BackendShutdown group{join_launched_ranks(ranks, device, o.dist_timeout_s)};
  const bool lead = ranks.rank == 0, alone = ranks.world_size == 1;
  // The reference first, while this process holds nothing on the device.
  const nlohmann::json reference = o.baseline && alone ? run_reference(o, device) : nlohmann::json(nullptr);
  at::manual_seed(0);
  const ModelConfig config = parse_hf_config(shape_config(o.shape), o.shape);
  const Checkpoint ck = random_checkpoint(config, device);
  Decoder model(ck, device.is_cuda() ? at::kBFloat16 : at::kFloat, device);
  double params = 0;
  for (const auto& [name, t] : ck.tensors) params += static_cast<double>(t.numel());
  // Tile mode learns on a fixed 2:4 mask: magnitude priors for both kinds of logits, as the reference uses.
  const MaskPriors priors = o.mode == MaskMode::joint || o.mode == MaskMode::maskllm
                                ? MaskPriors{}
                                : build_priors(ck, model, o.mode, 0.35, {"magnitude", "magnitude", 1}, nullptr);
  const std::int64_t checkpointed = o.checkpoint_blocks < 0 ? config.num_layers : std::min(o.checkpoint_blocks, config.num_layers);
  const int world = ranks.world_size;
  if (lead) {
    std::printf("%s (%.3f B params), %s%s, %s, seq %lld, activation checkpointing of %lld/%lld blocks, %s logit state%s\n",
                o.shape.c_str(), params / 1e9, alone ? "" : str_cat(world, " × ").c_str(), device_name(device).c_str(),
                mode_name(o.mode), static_cast<long long>(o.seq), static_cast<long long>(checkpointed),
                static_cast<long long>(config.num_layers), o.state_dtype.c_str(), o.shard_masks ? ", sharded" : "");
    if (o.baseline && !alone) std::printf("(the reference approach runs on one process: not run with %d ranks)\n", world);
    std::printf("| micro-batch | tokens/s | s/step | peak GiB | MFU | reference tokens/s | reference peak GiB | speedup | memory |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|\n");
  }
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const std::int64_t micro : o.micros) {
    std::vector<std::vector<std::int64_t>> pool;
    for (std::int64_t s = 0; s < 2 * micro; ++s) {
      pool.emplace_back();
      for (std::int64_t t = 0; t < o.seq; ++t) pool.back().push_back((s * 7919 + t * 104729) % config.vocab_size);
    }
    if (device.is_cuda()) at::accelerator::resetPeakStats(device.index());
    TrainerOptions t = ranks;
    t.mode = o.mode;
    t.shard_masks = o.shard_masks;
    t.state_dtype = parse_state_dtype(o.state_dtype);
    t.checkpoint_blocks = o.checkpoint_blocks;
    t.steps = o.steps + 1;
    t.micro_batch = micro;
    t.batch = micro * world;
    if (config.hidden_size % 128 != 0) t.init.tile = {64, 64};
    // Step 1 warms up; with --profile one more step after the timed ones runs under the profiler.
    const bool profiling = !o.profile.empty();
    t.steps += profiling ? 1 : 0;
    double measured = 0, profiled_ms = 0;
    std::unique_ptr<StepProfile> profile;
    t.on_step = [&](const StepMetrics& m) {
      if (m.step > 1 && m.step <= o.steps + 1) measured += m.seconds;
      if (m.step == o.steps + 2) profiled_ms = m.seconds * 1e3;
      if (profiling && m.step == o.steps + 1) profile = std::make_unique<StepProfile>();
    };
    {
      Trainer trainer(model, t, priors);
      trainer.train(pool);
    }
    if (profile && lead) {
      const std::string path = o.micros.size() == 1 ? o.profile : str_cat(o.profile, ".micro", micro);
      const std::vector<KernelTime> kernels = profile->finish(path);
      if (kernels.empty()) {  // CPU: ops nest, their times overlap; the trace shows them
        std::printf("profile of one step (micro-batch %lld): trace in %s (chrome://tracing or Perfetto)\n",
                    static_cast<long long>(micro), path.c_str());
      } else {
        std::printf("profile of one step (micro-batch %lld), trace in %s:\n%s\n", static_cast<long long>(micro),
                    path.c_str(), kernel_table(kernels, profiled_ms).c_str());
      }
    }
    const double step_s = measured / static_cast<double>(o.steps);
    const double tps = static_cast<double>(micro * world * o.seq) / step_s, peak = peak_memory_gib(device);
    nlohmann::ordered_json row = {{"gpu", device_name(device)}, {"shape", o.shape}, {"mode", mode_name(o.mode)},
                                  {"state_dtype", o.state_dtype},
                                  {"checkpointed_blocks", checkpointed}, {"gpus", world},
                                  {"shard_masks", o.shard_masks},
                                  {"sparsity", 35}, {"seq", o.seq}, {"micro_batch", micro}, {"tokens", micro * world * o.seq},
                                  {"s_per_step", step_s}, {"tokens_per_s", tps}, {"peak_gib", peak},
                                  {"mfu", 6.0 * params * tps / (world * o.peak_tflops * 1e12)}};
    const std::string key = std::to_string(micro);
    const bool have_ref = reference.is_object() && reference.contains(key);
    if (have_ref) {
      const nlohmann::json& r = reference[key];
      row["baseline"] = "reference approach (bench/learn_reference.py)";
      row["baseline_tokens_per_s"] = r["tokens_per_s"];
      row["baseline_peak_gib"] = r["peak_gib"];
      row["speedup"] = r["s_per_step"].get<double>() / step_s;
      row["memory_ratio"] = peak / r["peak_gib"].get<double>();
    }
    auto fixed = [&](const char* key, const char* format) {
      if (!have_ref) return std::string("—");
      char text[32];
      std::snprintf(text, sizeof text, format, row[key].get<double>());
      return std::string(text);
    };
    if (!lead) continue;
    std::printf("| %lld | %.1f | %.3f | %.1f | %.3f | %s | %s | %s | %s |\n", static_cast<long long>(micro), tps, step_s,
                peak, row["mfu"].get<double>(), fixed("baseline_tokens_per_s", "%.1f").c_str(),
                fixed("baseline_peak_gib", "%.1f").c_str(), fixed("speedup", "%.2f×").c_str(),
                fixed("memory_ratio", "%.2f×").c_str());
    std::fflush(stdout);
    rows.push_back(row);
  }
  return rows;
}

}  // namespace patchlm
