// Benchmark: the fused mask op (learn/fused_mask.h) against its composed ATen reference on every masked layer of a
// model shape — forward (W ⊙ M) and backward (dL/dlogits) per micro-batch, the part of a learning step that does
// not depend on the tokens. Prints ms per pass and the ratio reference ÷ fused, on the CPU or a GPU.
//   bench_fused_mask [--shape smollm2-135m|llama-3.2-1b] [--device cpu|cuda] [--mode joint|tile|maskllm] [--reps 3]
//                    [--reference yes|no] [--logits fp32|bf16]
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <torch/autograd.h>

#include "learn/fused_mask.h"
#include "learn/gumbel.h"
#include "learn/tile_mask.h"
#include "util/error.h"

namespace {

using namespace patchlm;

struct Shape {
  std::int64_t hidden, intermediate, kv, layers, tile;
};

Shape shape_of(const std::string& name) {
  if (name == "smollm2-135m") return {576, 1536, 192, 30, 64};
  if (name == "llama-3.2-1b") return {2048, 8192, 512, 16, 128};
  throw Error("--shape: smollm2-135m or llama-3.2-1b");
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::string shape_name = "smollm2-135m", device_name = "cpu", mode_arg = "joint";
  int reps = 3;
  bool reference = true;
  std::string logits_dtype = "fp32";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--shape") shape_name = v;
    else if (a == "--device") device_name = v;
    else if (a == "--mode") mode_arg = v;
    else if (a == "--reps") reps = std::stoi(v);
    else if (a == "--reference") reference = v != "no";
    else if (a == "--logits") logits_dtype = v;
    else { std::fprintf(stderr, "unknown argument %s\n", a.c_str()); return 2; }
  }
  try {
    const Shape s = shape_of(shape_name);
    const MaskMode mode = parse_mask_mode(mode_arg);
    const at::Device device(device_name);
    const auto opts = at::TensorOptions().device(device);
    const at::ScalarType wtype = device.is_cuda() ? at::kBFloat16 : at::kFloat;
    const TileShape tile{s.tile, s.tile};
    std::vector<LayerLogits> layers;
    std::vector<at::Tensor> weights;
    const std::pair<std::int64_t, std::int64_t> per_block[] = {{s.hidden, s.hidden}, {s.kv, s.hidden}, {s.kv, s.hidden},
                                                               {s.hidden, s.hidden}, {s.intermediate, s.hidden},
                                                               {s.intermediate, s.hidden}, {s.hidden, s.intermediate}};
    double params = 0;
    for (std::int64_t b = 0; b < s.layers; ++b) {
      for (auto [rows, cols] : per_block) {
        LayerLogits l;
        l.name = "layer";
        l.rows = rows;
        l.cols = cols;
        l.logits_2to4 = (at::randn({rows * cols / 4, 6}, opts) * 0.014)
                            .to(logits_dtype == "bf16" ? at::kBFloat16 : at::kFloat)
                            .requires_grad_(true);
        l.tile_logits = (at::randn({rows / s.tile, cols / s.tile}, opts) * 0.014).requires_grad_(true);
        l.fixed_2to4 = (at::rand({rows, cols}, opts) < 0.5).to(at::kByte);
        layers.push_back(l);
        weights.push_back(at::randn({rows, cols}, opts.dtype(wtype)) * 0.02);
        params += static_cast<double>(rows * cols);
      }
    }
    const SampleParams p;
    std::printf("fused mask op, %s (%.0f M masked weights), %s, mode %s, %s weights, %s logits\n", shape_name.c_str(),
                params / 1e6, device_name.c_str(), mode_name(mode), c10::toString(wtype), logits_dtype.c_str());
    auto pass = [&](bool fused) {
      double fwd = 0, bwd = 0;
      for (int r = 0; r < reps; ++r) {
        auto t0 = std::chrono::steady_clock::now();
        std::vector<at::Tensor> outs;
        for (std::size_t i = 0; i < layers.size(); ++i) {
          at::Tensor tiles;
          if (mode != MaskMode::maskllm) {
            const at::Tensor noise = counter_gumbel_noise(noise_stream(r, i, NoisePart::tiles),
                                                          {layers[i].tile_logits.size(0), layers[i].tile_logits.size(1), 2}, opts);
            tiles = soft_tiles(layers[i].tile_logits, noise, p.kappat, p.tau);
          }
          const std::uint64_t stream = noise_stream(r, i, NoisePart::two_four);
          outs.push_back(fused ? fused_masked_weight(weights[i], layers[i], mode, p, tile, tiles, stream)
                               : reference_masked_weight(weights[i], layers[i], mode, p, tile, tiles, stream));
        }
        if (device.is_cuda()) outs.back().cpu();
        const double f = seconds_since(t0);
        std::vector<at::Tensor> grads;
        for (const at::Tensor& o : outs) grads.push_back(at::ones_like(o));
        t0 = std::chrono::steady_clock::now();
        torch::autograd::backward(outs, grads);
        if (device.is_cuda()) layers.back().tile_logits.grad().cpu();
        const double b = seconds_since(t0);
        for (LayerLogits& l : layers) {
          l.logits_2to4.mutable_grad() = at::Tensor();
          l.tile_logits.mutable_grad() = at::Tensor();
        }
        if (r > 0 || reps == 1) {
          fwd += f;
          bwd += b;
        }
      }
      const double n = reps > 1 ? reps - 1 : 1;
      return std::pair{fwd / n, bwd / n};
    };
    const auto [ref_f, ref_b] = reference ? pass(false) : std::pair{0.0, 0.0};  // --reference no: profile the fused op
    const auto [fus_f, fus_b] = pass(true);
    std::printf("| pass | reference ms | fused ms | speedup |\n|---|---|---|---|\n");
    std::printf("| forward | %.1f | %.1f | %.2f |\n", ref_f * 1e3, fus_f * 1e3, ref_f / fus_f);
    std::printf("| backward | %.1f | %.1f | %.2f |\n", ref_b * 1e3, fus_b * 1e3, ref_b / fus_b);
    std::printf("| both | %.1f | %.1f | %.2f |\n", (ref_f + ref_b) * 1e3, (fus_f + fus_b) * 1e3,
                (ref_f + ref_b) / (fus_f + fus_b));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_fused_mask: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
