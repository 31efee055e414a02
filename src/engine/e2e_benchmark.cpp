#include "engine/e2e_benchmark.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>

#include "engine/engine.h"
#include "engine/generation.h"
#include "io/hybrid_layout.h"
#include "kernels/dependent_launch.h"
#include "kernels/gemm_benchmark.h"
#include "kernels/hybrid_linear.h"
#include "kernels/hybrid_model.h"
#include "util/error.h"
#include "util/python_baseline.h"
#include "util/json_io.h"
#include "util/log.h"

#if PATCHLM_HAVE_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace patchlm {
namespace {

struct Shape {
  const char* name;
  std::int64_t vocab, hidden, inter, layers, heads, kv_heads;
  double rope_theta;
};
constexpr Shape kShapes[] = {{"llama-2-7b", 32000, 4096, 11008, 32, 32, 32, 10000.0},
                             {"llama-3.1-8b", 128256, 4096, 14336, 32, 32, 8, 500000.0}};

const Shape& shape_named(const std::string& name) {
  for (const Shape& s : kShapes)
    if (name == s.name) return s;
  throw UsageError(str_cat("--shapes: unknown shape ", in_quotes(name), " (llama-2-7b, llama-3.1-8b, none)"));
}

ModelConfig config_of(const Shape& s, std::int64_t context) {
  ModelConfig c;
  c.family = Family::llama;
  c.model_type = "llama";
  c.vocab_size = s.vocab;
  c.hidden_size = s.hidden;
  c.intermediate_size = s.inter;
  c.num_layers = s.layers;
  c.num_heads = s.heads;
  c.num_kv_heads = s.kv_heads;
  c.head_dim = s.hidden / s.heads;
  c.max_position_embeddings = context;
  c.rms_norm_eps = 1e-5;
  c.rope.theta = s.rope_theta;
  c.rope_local = c.rope;
  c.sliding_layers.assign(static_cast<std::size_t>(s.layers), false);
  return c;
}

// A random-weight checkpoint of `shape` on `device`, every layer's weights its own (so the model's bytes are a real
// model's: nothing can stay in L2 from one layer to the next); at σ > 0 the projections are packed hybrid weights
// with PATCH-like tile patterns — one packed host copy per kind, uploaded once per layer.
Checkpoint random_checkpoint(const Shape& s, int sigma, std::int64_t context, at::Device device) {
  Checkpoint c;
  c.config = config_of(s, context);
  c.source = s.name;
  c.format = sigma > 0 ? "hybrid" : "random";
  at::manual_seed(0);
  const auto opts = at::TensorOptions().dtype(at::kBFloat16).device(device);
  auto rnd = [&](std::vector<std::int64_t> shape) { return at::randn(shape, opts) * 0.02; };
  c.tensors["model.embed_tokens.weight"] = rnd({s.vocab, s.hidden});
  c.tensors["model.norm.weight"] = at::ones({s.hidden}, opts);
  c.tensors["lm_head.weight"] = rnd({s.vocab, s.hidden});
  const std::int64_t D = s.hidden / s.heads;
  const std::map<std::string, std::pair<std::int64_t, std::int64_t>> kinds = {
      {"self_attn.q_proj", {s.heads * D, s.hidden}},  {"self_attn.k_proj", {s.kv_heads * D, s.hidden}},
      {"self_attn.v_proj", {s.kv_heads * D, s.hidden}}, {"self_attn.o_proj", {s.hidden, s.heads * D}},
      {"mlp.gate_proj", {s.inter, s.hidden}},          {"mlp.up_proj", {s.inter, s.hidden}},
      {"mlp.down_proj", {s.hidden, s.inter}}};
  std::map<std::string, at::Tensor> dense;
  std::map<std::string, std::shared_ptr<const hybrid::PackedHybrid>> packed;
  std::uint64_t seed = 1;
  for (const auto& [kind, rc] : kinds) {
    const at::Tensor w = rnd({rc.first, rc.second});
    if (sigma == 0) {
      dense[kind] = w;
      continue;
    }
    const at::Tensor host = w.to(at::kCPU).contiguous();
    const std::vector<std::uint8_t> keep = kernels::patch_like_mask(rc.first, rc.second, 2.0 * sigma / 100.0, seed++);
    packed[kind] = std::make_shared<hybrid::PackedHybrid>(
        hybrid::pack(static_cast<const std::uint16_t*>(host.data_ptr()), keep.data(), {rc.first, rc.second, {128, 128}}));
  }
  for (std::int64_t l = 0; l < s.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    c.tensors[p + "input_layernorm.weight"] = at::ones({s.hidden}, opts);
    c.tensors[p + "post_attention_layernorm.weight"] = at::ones({s.hidden}, opts);
    for (const auto& [kind, rc] : kinds) {
      if (sigma == 0) {
        c.tensors[p + kind + ".weight"] = l == 0 ? dense[kind] : rnd({rc.first, rc.second});
      } else {
        c.hybrid[p + kind + ".weight"] = packed[kind];
      }
    }
  }
  return c;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void synchronize(at::Device device) {
#if PATCHLM_HAVE_CUDA
  if (device.is_cuda()) at::cuda::getCurrentCUDAStream(device.index()).synchronize();
#else
  (void)device;
#endif
}

double peak_gib(at::Device device) {
#if PATCHLM_HAVE_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    return static_cast<double>(stats.reserved_bytes[0].peak) / (1024.0 * 1024.0 * 1024.0);
  }
#else
  (void)device;
#endif
  return 0;
}

void reset_peak(at::Device device) {
#if PATCHLM_HAVE_CUDA
  if (device.is_cuda()) {
    c10::cuda::CUDACachingAllocator::emptyCache();
    c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
  }
#else
  (void)device;
#endif
}

struct Timing {
  double prefill_tokens_per_s = 0, decode_tokens_per_s = 0, step_ms = 0;
  double prefill_one_by_one_tokens_per_s = 0;  // the same prompts one prefill pass each (batch > 1)
  double device_step_ms = 0;  // decode steps issued back to back, no host round trip per step
};

// One figure of each round, and its ratio to another model's in the same round.
std::vector<double> by_round(const std::vector<Timing>& rounds, double Timing::*field) {
  std::vector<double> values;
  for (const Timing& t : rounds) values.push_back(t.*field);
  return values;
}
std::vector<double> ratios_by_round(const std::vector<Timing>& rounds, const std::vector<Timing>& other, double Timing::*field) {
  std::vector<double> ratios;
  for (std::size_t r = 0; r < rounds.size(); ++r) ratios.push_back(rounds[r].*field / (other[r].*field));
  return ratios;
}

// The median of a figure's rounds (kernels::median_index: the upper one of an even count).
double median(const std::vector<double>& values) { return values[kernels::median_index(values)]; }

// Each figure's median over the rounds.
Timing median_timing(const std::vector<Timing>& rounds) {
  Timing t;
  for (double Timing::*field : {&Timing::prefill_tokens_per_s, &Timing::decode_tokens_per_s, &Timing::step_ms,
                                &Timing::prefill_one_by_one_tokens_per_s, &Timing::device_step_ms})
    t.*field = median(by_round(rounds, field));
  return t;
}

// A model's rounds of each (batch, prompt) case, and its peak GiB by the end of that case (the model's cases run in
// order; the largest round's).
struct ModelTimings {
  std::map<std::pair<std::int64_t, std::int64_t>, std::vector<Timing>> rounds;
  std::map<std::pair<std::int64_t, std::int64_t>, double> peak_gib;
};

// Seconds per pass over every prompt, the median of kPrefillPasses (each pass rewrites the same cache rows). One
// pass of a batch-1 2048-token prompt takes ~50 ms on an H200 — short enough for one pass to move by ~10 % between runs.
double median_pass_seconds(Engine& engine, const std::function<void()>& pass) {
  constexpr int kPrefillPasses = 5;
  std::vector<double> seconds;
  for (int i = 0; i < kPrefillPasses; ++i) {
    const auto start = std::chrono::steady_clock::now();
    pass();
    synchronize(engine.device());
    seconds.push_back(seconds_since(start));
  }
  return median(seconds);
}

// `batch` prompts of `prompt` random tokens prefilled as the Batcher does — together, in passes of up to
// kPrefillTokensPerPass tokens — and (batch > 1) one by one, then `new_tokens` greedy decode steps of all of them
// together (after one warm-up step per bucket, which captures its CUDA graph).
Timing time_generation(Engine& engine, std::int64_t batch, std::int64_t prompt, std::int64_t new_tokens) {
  const at::Device device = engine.device();
  const auto V = engine.config().vocab_size;
  std::vector<std::vector<std::int64_t>> prompts(static_cast<std::size_t>(batch));
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t t = 0; t < prompt; ++t) prompts[b].push_back((b * 7919 + t * 104729 + 13) % V);
  std::vector<std::int64_t> tokens(batch), positions(batch, prompt), slots(batch);
  for (std::int64_t b = 0; b < batch; ++b) slots[b] = b;
  const auto prefill_together = [&] {
    for (std::int64_t first = 0; first < batch;) {
      std::int64_t end = first;
      while (end < batch && joins_prefill_pass((end - first) * prompt, prompt)) ++end;
      const std::vector<std::int64_t> pass_slots(slots.begin() + first, slots.begin() + end);
      const std::vector<std::vector<std::int64_t>> pass_prompts(prompts.begin() + first, prompts.begin() + end);
      const at::Tensor next = engine.prefill(pass_slots, pass_prompts).argmax(-1).to(at::kCPU);
      for (std::int64_t b = first; b < end; ++b) tokens[b] = next[b - first].item<std::int64_t>();
      first = end;
    }
  };
  const auto prefill_one_by_one = [&] {
    for (std::int64_t b = 0; b < batch; ++b) tokens[b] = engine.prefill(b, prompts[b]).argmax().item<std::int64_t>();
  };
  // Warm-up: both prefills and one decode step (libraries, kernels, the CUDA graph of this bucket).
  prefill_together();
  engine.prefill(0, prompts[0]);
  engine.decode(std::vector<std::int64_t>(batch, 1), positions, slots).argmax(-1).to(at::kCPU);
  synchronize(device);
  Timing t;
  const double tokens_in = static_cast<double>(batch * prompt);
  if (batch > 1) t.prefill_one_by_one_tokens_per_s = tokens_in / median_pass_seconds(engine, prefill_one_by_one);
  t.prefill_tokens_per_s = tokens_in / median_pass_seconds(engine, prefill_together);
  auto t0 = std::chrono::steady_clock::now();
  for (std::int64_t step = 0; step < new_tokens; ++step) {
    const at::Tensor next = engine.decode(tokens, positions, slots).argmax(-1).to(at::kCPU);
    for (std::int64_t b = 0; b < batch; ++b) {
      tokens[b] = next[b].item<std::int64_t>();
      ++positions[b];
    }
  }
  const double seconds = seconds_since(t0);
  t.decode_tokens_per_s = static_cast<double>(batch * new_tokens) / seconds;
  t.step_ms = 1000.0 * seconds / static_cast<double>(new_tokens);
  // The same steps without waiting for each step's tokens on the host: the device's share of a step.
  t0 = std::chrono::steady_clock::now();
  for (std::int64_t step = 0; step < 32; ++step) engine.decode(tokens, positions, slots);
  synchronize(device);
  t.device_step_ms = 1000.0 * seconds_since(t0) / 32.0;
  return t;
}

// transformers' generate on the dense model of `shape` at each batch size: {batch: {prefill, decode tokens/s}}, or
// null with the reason in the log when it cannot run.
nlohmann::json run_baseline(const E2eBenchOptions& o, const Shape& s, std::int64_t prompt) {
  std::string batches;
  for (int b : o.batches) batches += (batches.empty() ? "" : ",") + std::to_string(b);
  return run_python_baseline(o.python, find_baseline_script("bench/e2e_transformers.py", o.baseline_script),
                             str_cat("--shape ", s.name, " --batches ", batches, " --prompt ", prompt,
                                     " --new-tokens ", o.new_tokens),
                             str_cat("transformers generate on ", s.name, " (", prompt, "-token prompts)"));
}

}  // namespace

void validate_e2e_bench(const E2eBenchOptions& o) {
  for (const std::string& s : o.shapes)
    if (s != "none") shape_named(s);
  for (int sigma : o.sparsities)
    if (sigma < 0 || sigma > 50) throw UsageError(str_cat("--sparsity: ", sigma, " is outside 0..50"));
  for (int b : o.batches)
    if (b < 1) throw UsageError(str_cat("--batch: ", b, " must be positive"));
  if (o.prompts.empty()) throw UsageError("--prompt: give at least one length");
  for (std::int64_t prompt : o.prompts)
    if (prompt < 1) throw UsageError(str_cat("--prompt: ", prompt, " must be positive"));
  if (o.new_tokens < 1) throw UsageError(str_cat("--new-tokens: ", o.new_tokens, " must be positive"));
  kernels::cluster_split_use_option(o.cluster_split);
  if (o.graph_prefill_tokens < 0)
    throw UsageError(str_cat("--graph-prefill-tokens: ", o.graph_prefill_tokens, " must be 0 (no prefill graphs) or more"));
  if (o.rounds < 1 || o.rounds > kMaxE2eRounds) throw UsageError(str_cat("--rounds: ", o.rounds, " is outside 1..", kMaxE2eRounds));
}

nlohmann::ordered_json run_e2e_benchmark(const E2eBenchOptions& o) {
  validate_e2e_bench(o);
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  std::string gpu = "cpu";
  at::Device device = at::kCPU;
#if PATCHLM_HAVE_CUDA
  if (at::cuda::is_available()) {
    device = at::Device(at::kCUDA, 0);
    gpu = at::cuda::getDeviceProperties(0)->name;
    kernels::set_dependent_launch(o.dependent_launch);
    kernels::set_cluster_split_use(kernels::cluster_split_use_option(o.cluster_split));
    kernels::set_prefill_multicast_use(o.x_multicast);
    kernels::set_prefill_multicast_stream_k_use(o.multicast_stream_k);
    at::empty({1}, at::TensorOptions().device(device));  // the caching allocator's statistics exist from here on
  }
#endif
  const std::int64_t batch_max = *std::max_element(o.batches.begin(), o.batches.end());
  const std::int64_t prompt_max = *std::max_element(o.prompts.begin(), o.prompts.end());
  const std::int64_t context = prompt_max + o.new_tokens + 8;
  EngineOptions engine_options;
  engine_options.max_batch = batch_max;
  engine_options.max_context = context;
  engine_options.graph_prefill_tokens = o.graph_prefill_tokens;
  std::printf("| model | σ %% | batch | prompt | prefill tok/s (one by one) | prefill vs own dense | decode tok/s | "
              "ms/step (device) | decode vs own dense | transformers decode tok/s | speedup | peak GiB |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  // One row from a model's rounds of one case; dense: the same shape's σ = 0 model's rounds of it (nothing where there
  // is none): each ratio is the median of the rounds' ratios.
  auto add_row = [&](const std::string& model, int sigma, std::int64_t batch, std::int64_t prompt,
                     const std::vector<Timing>& rounds, const std::vector<Timing>* dense, const nlohmann::json& baseline,
                     double peak) {
    const Timing t = median_timing(rounds);
    nlohmann::ordered_json row = {{"gpu", gpu},          {"model", model},           {"sparsity", sigma},
                                  {"batch", batch},      {"prompt_tokens", prompt}, {"new_tokens", o.new_tokens},
                                  {"prefill_tokens_per_s", t.prefill_tokens_per_s},
                                  {"prefill_one_by_one_tokens_per_s", t.prefill_one_by_one_tokens_per_s},
                                  {"decode_tokens_per_s", t.decode_tokens_per_s}, {"ms_per_step", t.step_ms}, {"device_ms_per_step", t.device_step_ms},
                                  {"peak_gib", peak},
                                  {"dependent_launch", o.dependent_launch},
                                  {"cluster_split", o.cluster_split},
                                  {"x_multicast", o.x_multicast},
                                  {"multicast_stream_k", o.multicast_stream_k},
                                  {"graph_prefill_tokens", o.graph_prefill_tokens},
                                  {"rounds", o.rounds}};
    double prefill_vs_dense = NAN, vs_dense = NAN;
    if (dense != nullptr) {
      const std::vector<double> prefill = ratios_by_round(rounds, *dense, &Timing::prefill_tokens_per_s),
                                decode = ratios_by_round(rounds, *dense, &Timing::decode_tokens_per_s);
      prefill_vs_dense = median(prefill), vs_dense = median(decode);
      row["prefill_vs_own_dense"] = prefill_vs_dense, row["decode_vs_own_dense"] = vs_dense;
      if (o.rounds > 1) row["prefill_vs_own_dense_by_round"] = prefill, row["decode_vs_own_dense_by_round"] = decode;
    }
    if (o.rounds > 1) {
      row["prefill_tokens_per_s_by_round"] = by_round(rounds, &Timing::prefill_tokens_per_s);
      row["decode_tokens_per_s_by_round"] = by_round(rounds, &Timing::decode_tokens_per_s);
    }
    double base = 0;
    if (baseline.is_object() && baseline.contains(std::to_string(batch))) {
      const auto& b = baseline[std::to_string(batch)];
      base = b.value("decode_tokens_per_s", 0.0);
      row["baseline"] = "transformers generate (bf16, sdpa, static cache)";
      row["baseline_prefill_tokens_per_s"] = b.value("prefill_tokens_per_s", 0.0);
      row["baseline_decode_tokens_per_s"] = base;
      row["speedup"] = t.decode_tokens_per_s / base;  // = baseline time ÷ ours
    }
    const auto ratio = [&](double r) {
      return dense != nullptr ? str_cat(std::round(r * 1000) / 1000, "x") : std::string("-");
    };
    std::printf("| %s | %d | %lld | %lld | %.0f (%s) | %s | %.1f | %.3f (%.3f) | %s | %s | %s | %.1f |\n", model.c_str(),
                sigma, static_cast<long long>(batch), static_cast<long long>(prompt), t.prefill_tokens_per_s,
                batch > 1 ? str_cat(std::round(t.prefill_one_by_one_tokens_per_s)).c_str() : "-",
                ratio(prefill_vs_dense).c_str(), t.decode_tokens_per_s, t.step_ms, t.device_step_ms, ratio(vs_dense).c_str(),
                base > 0 ? str_cat(std::round(base * 10) / 10).c_str() : "-",
                base > 0 ? str_cat(std::round(t.decode_tokens_per_s / base * 1000) / 1000, "x").c_str() : "-", peak);
    std::fflush(stdout);
    rows.push_back(row);
  };
  // `count` models, each built by build(i) after the peak statistics are reset, timed at every (batch, prompt) in
  // o.rounds rounds (every other round in reverse order); emit(i) once model i's rounds are all in — as it is timed with
  // one round, after the last round otherwise.
  const auto time_models = [&](std::size_t count, const std::function<std::unique_ptr<Engine>(std::size_t)>& build,
                               std::vector<ModelTimings>& timings, const std::function<void(std::size_t)>& emit) {
    timings.assign(count, {});
    for (int round = 0; round < o.rounds; ++round)
      for (const int i : kernels::interleaved_round_order(round, static_cast<int>(count))) {
        reset_peak(device);
        const std::unique_ptr<Engine> engine = build(i);
        for (int batch : o.batches)
          for (std::int64_t prompt : o.prompts) {
            timings[i].rounds[{batch, prompt}].push_back(time_generation(*engine, batch, prompt, o.new_tokens));
            double& peak = timings[i].peak_gib[{batch, prompt}];
            peak = std::max(peak, peak_gib(device));
          }
        if (o.rounds == 1) emit(i);
      }
    if (o.rounds > 1)
      for (std::size_t i = 0; i < count; ++i) emit(i);
  };
  for (const std::string& name : o.shapes) {
    if (name == "none") continue;
    if (!device.is_cuda()) throw Error("bench e2e: the random-weight shapes need a CUDA device (give --shapes none --models ...)");
    const Shape& s = shape_named(name);
    std::map<std::int64_t, nlohmann::json> baseline;  // by prompt length
    for (std::int64_t prompt : o.prompts)
      if (o.baseline) baseline[prompt] = run_baseline(o, s, prompt);
    std::vector<ModelTimings> timings;
    const auto dense_at = std::find(o.sparsities.begin(), o.sparsities.end(), 0);
    const auto emit = [&](std::size_t i) {
      for (int batch : o.batches)
        for (std::int64_t prompt : o.prompts) {
          const std::vector<Timing>& mine = timings[i].rounds.at({batch, prompt});
          const std::vector<Timing>* dense = nullptr;  // timed in as many rounds (with one round: before this model)
          if (o.sparsities[i] != 0 && dense_at != o.sparsities.end()) {
            const auto& d = timings[dense_at - o.sparsities.begin()].rounds;
            if (const auto it = d.find({batch, prompt}); it != d.end() && it->second.size() == mine.size()) dense = &it->second;
          }
          add_row(name, o.sparsities[i], batch, prompt, mine, dense, baseline[prompt], timings[i].peak_gib[{batch, prompt}]);
        }
    };
    const auto build = [&](std::size_t i) {
      const int sigma = o.sparsities[i];
      int packed = 0;
      std::unique_ptr<Decoder> decoder;
      {
        const Checkpoint ckpt = random_checkpoint(s, sigma, context, device);
        decoder = std::make_unique<Decoder>(ckpt, at::kBFloat16, device,
                                            sigma > 0 ? kernels::hybrid_proj_builder(ckpt, device, &packed) : ProjBuilder());
      }
      return std::make_unique<Engine>(std::move(decoder), engine_options);
    };
    time_models(o.sparsities.size(), build, timings, emit);
  }
  std::vector<ModelTimings> model_timings;
  const auto emit_model = [&](std::size_t i) {
    for (int batch : o.batches)
      for (std::int64_t prompt : o.prompts)
        add_row(o.models[i], -1, batch, prompt, model_timings[i].rounds.at({batch, prompt}), nullptr, nullptr,
                model_timings[i].peak_gib[{batch, prompt}]);
  };
  const auto load = [&](std::size_t i) {
    return std::make_unique<Engine>(
        kernels::load_model(o.models[i], device.is_cuda() ? std::optional(at::kBFloat16) : std::nullopt, device),
        engine_options);
  };
  time_models(o.models.size(), load, model_timings, emit_model);
  return rows;
}

}  // namespace patchlm
