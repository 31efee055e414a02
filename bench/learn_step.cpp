// Benchmark: one PATCH learning step (joint mode, activation checkpointing) on a randomly initialised model of a
// real shape — LLaMA-3.2-1B by default — on the CPU or a GPU: tokens/s, peak memory and MFU =
// 6 · params · tokens/s ÷ peak FLOP/s.
//   bench_learn_step [--shape llama-3.2-1b|smollm2-135m] [--device cpu|cuda] [--seq 4096] [--micro 1,2,4]
//                    [--steps 3] [--peak-tflops 989] [--no-checkpointing]
#include <ATen/DeviceAccelerator.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include "learn/trainer.h"
#include "io/model_config.h"
#include "util/error.h"

namespace {

using namespace patchlm;

nlohmann::json shape_config(const std::string& shape) {
  if (shape == "llama-3.2-1b") {
    return {{"model_type", "llama"}, {"hidden_size", 2048}, {"intermediate_size", 8192}, {"num_hidden_layers", 16},
            {"num_attention_heads", 32}, {"num_key_value_heads", 8}, {"head_dim", 64}, {"vocab_size", 128256},
            {"max_position_embeddings", 131072}, {"rms_norm_eps", 1e-5}, {"rope_theta", 500000.0},
            {"rope_scaling", {{"factor", 32.0}, {"high_freq_factor", 4.0}, {"low_freq_factor", 1.0},
                              {"original_max_position_embeddings", 8192}, {"rope_type", "llama3"}}},
            {"tie_word_embeddings", true}, {"hidden_act", "silu"}};
  }
  if (shape == "smollm2-135m") {
    return {{"model_type", "llama"}, {"hidden_size", 576}, {"intermediate_size", 1536}, {"num_hidden_layers", 30},
            {"num_attention_heads", 9}, {"num_key_value_heads", 3}, {"vocab_size", 49152},
            {"max_position_embeddings", 8192}, {"rms_norm_eps", 1e-5}, {"rope_theta", 100000.0},
            {"tie_word_embeddings", true}, {"hidden_act", "silu"}};
  }
  throw patchlm::Error("--shape: llama-3.2-1b or smollm2-135m");
}

// Random weights (N(0, 0.02), norms 1) under the HF names the decoder expects.
Checkpoint random_checkpoint(const ModelConfig& c, at::Device device) {
  Checkpoint ck;
  ck.config = c;
  const auto o = at::TensorOptions().dtype(at::kBFloat16).device(device);
  const std::int64_t H = c.hidden_size, I = c.intermediate_size, D = c.head_dim;
  auto w = [&](std::int64_t r, std::int64_t k) { return at::randn({r, k}, o) * 0.02; };
  ck.tensors["model.embed_tokens.weight"] = w(c.vocab_size, H);
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
    return static_cast<double>(at::accelerator::getDeviceStats(device.has_index() ? device.index() : 0).allocated_bytes[0].peak) / (1 << 30);
  }
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / (1 << 20);  // KiB → GiB
}

}  // namespace

int main(int argc, char** argv) {
  std::string shape = "llama-3.2-1b", device_name = "cpu", micros = "1,2,4";
  std::int64_t seq = 4096, steps = 3;
  double peak_tflops = 989;
  bool checkpointing = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--shape") shape = next();
    else if (a == "--device") device_name = next();
    else if (a == "--seq") seq = std::atoll(next().c_str());
    else if (a == "--micro") micros = next();
    else if (a == "--steps") steps = std::atoll(next().c_str());
    else if (a == "--peak-tflops") peak_tflops = std::atof(next().c_str());
    else if (a == "--no-checkpointing") checkpointing = false;
    else { std::fprintf(stderr, "unknown argument %s\n", a.c_str()); return 2; }
  }
  try {
    const at::Device device(device_name);
    at::manual_seed(0);
    const ModelConfig config = parse_hf_config(shape_config(shape), shape);
    const Checkpoint ck = random_checkpoint(config, device);
    Decoder model(ck, device.is_cuda() ? at::kBFloat16 : at::kFloat, device);
    double params = 0;
    for (const auto& [name, t] : ck.tensors) params += static_cast<double>(t.numel());
    std::printf("shape %s (%.3f B params), device %s, seq %lld, checkpointing %s\n", shape.c_str(), params / 1e9,
                device_name.c_str(), static_cast<long long>(seq), checkpointing ? "on" : "off");
    std::printf("| micro-batch | tokens/step | s/step | tokens/s | peak memory GiB | MFU |\n|---|---|---|---|---|---|\n");
    std::stringstream list(micros);
    for (std::string item; std::getline(list, item, ',');) {
      const std::int64_t micro = std::atoll(item.c_str());
      std::vector<std::vector<std::int64_t>> pool;
      for (std::int64_t s = 0; s < 2 * micro; ++s) {
        pool.emplace_back();
        for (std::int64_t t = 0; t < seq; ++t) pool.back().push_back((s * 7919 + t * 104729) % config.vocab_size);
      }
      if (device.is_cuda()) at::accelerator::resetPeakStats(device.has_index() ? device.index() : 0);
      TrainerOptions o;
      o.mode = MaskMode::joint;
      o.steps = steps + 1;
      o.batch = o.micro_batch = micro;
      o.activation_checkpointing = checkpointing;
      if (config.hidden_size % 128 != 0) o.init.tile = {64, 64};
      double measured = 0;
      o.on_step = [&](const StepMetrics& m) { if (m.step > 1) measured += m.seconds; };  // step 1 warms up
      Trainer trainer(model, o, {});
      trainer.train(pool);
      const double step_s = measured / static_cast<double>(steps);
      const double tps = static_cast<double>(micro * seq) / step_s;
      std::printf("| %lld | %lld | %.3f | %.0f | %.1f | %.3f |\n", static_cast<long long>(micro),
                  static_cast<long long>(micro * seq), step_s, tps, peak_memory_gib(device),
                  6.0 * params * tps / (peak_tflops * 1e12));
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_learn_step: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
