// `patchlm prune MODEL --method magnitude --pattern 2:4 --out masks.safetensors [--save-pruned DIR]`:
// one-shot masks for every q/k/v/o/gate/up/down projection, a per-layer sparsity table, the mask file, and
// optionally a normal HF checkpoint with the pruned weights set to zero.
#include <cstdio>

#include "cli/command.h"
#include "cli/options.h"
#include "io/mask_file.h"
#include "model/decoder.h"
#include "prune/select.h"
#include "util/error.h"

namespace patchlm::cli {

Command add_prune_command(CLI::App& root, const GlobalOptions&) {
  struct Options {
    std::string model, method = "magnitude", pattern = "2:4", out, save_pruned, dtype = "f32";
    double sparsity = 0.5;
  };
  auto o = std::make_shared<Options>();
  auto* app = root.add_subcommand("prune", "One-shot pruning masks (magnitude) for every linear projection");
  app->add_option("model", o->model, "HF model directory or GGUF file")->required();
  app->add_option("--method", o->method, "magnitude (Wanda and SparseGPT need calibration: not implemented yet)")
      ->capture_default_str();
  app->add_option("--pattern", o->pattern, "2:4, any N:M, or unstructured")->capture_default_str();
  app->add_option("--sparsity", o->sparsity, "Fraction pruned per row for unstructured")->capture_default_str();
  app->add_option("--out", o->out, "Mask file to write (docs/masks.md)")->required();
  app->add_option("--save-pruned", o->save_pruned, "Also write a HF checkpoint with the pruned weights zeroed");
  app->add_option("--dtype", o->dtype, "dtype of --save-pruned: f32, bf16, f16")->capture_default_str();
  return {app, [o] {
            if (o->method != "magnitude") {
              throw UsageError(str_cat("--method: ", in_quotes(o->method),
                                       " is not implemented yet (available: magnitude)"));
            }
            const SparsityPattern pattern = parse_pattern(o->pattern, o->sparsity);
            const auto save_dtype = parse_compute_dtype("--dtype", o->dtype);
            Checkpoint ckpt = load_checkpoint(o->model);
            Decoder model(ckpt);  // validates names and shapes against the config
            MaskSet masks;
            masks.metadata = {{"method", o->method}, {"pattern", pattern.name()}, {"source_model", o->model}};
            std::int64_t kept_total = 0, total = 0;
            std::printf("| layer | shape | sparsity |\n|---|---|---|\n");
            for (Proj* p : model.projections()) {
              at::Tensor keep = keep_mask(p->weight().abs(), pattern).contiguous();
              const std::string name = p->name() + ".weight";
              at::Tensor keep_u8 = keep.to(at::kByte);
              LayerMask m{keep.size(0), keep.size(1),
                          std::vector<std::uint8_t>(keep_u8.data_ptr<std::uint8_t>(),
                                                    keep_u8.data_ptr<std::uint8_t>() + keep_u8.numel())};
              std::printf("| %s | %lldx%lld | %.4f |\n", name.c_str(), static_cast<long long>(m.rows),
                          static_cast<long long>(m.cols), m.sparsity());
              kept_total += keep.sum().item<std::int64_t>();
              total += keep.numel();
              if (!o->save_pruned.empty()) ckpt.tensors[name] = ckpt.tensors[name].to(at::kFloat) * keep;
              masks.layers[name] = std::move(m);
            }
            const double global = 1.0 - static_cast<double>(kept_total) / static_cast<double>(total);
            std::printf("| **all %zu projections** | | %.4f |\n", masks.layers.size(), global);
            masks.metadata["sparsity"] = str_cat(global);
            write_mask_file(o->out, masks);
            if (!o->save_pruned.empty()) save_hf_checkpoint(ckpt, o->save_pruned, save_dtype, 5'000'000'000ull);
            return 0;
          }};
}

}  // namespace patchlm::cli
