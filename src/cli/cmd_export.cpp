// `patchlm export MODEL --masks masks.safetensors --format hf OUT_DIR`: a HF checkpoint with the pruned weights set
// to zero, the same config and tokenizer files; transformers loads it and computes what `eval --masks` computes.
#include <iostream>

#include "cli/command.h"
#include "cli/options.h"
#include "export/hf_export.h"
#include "model/fingerprint.h"
#include "util/error.h"
#include "util/log.h"

namespace patchlm::cli {

Command add_export_command(CLI::App& root, const GlobalOptions&) {
  struct Options {
    std::string model, masks, format = "hf", out, dtype = "f32", max_shard = "5GB";
  };
  auto o = std::make_shared<Options>();
  auto* app = root.add_subcommand("export", "Apply a mask file and write the pruned model");
  app->add_option("model", o->model, "HF model directory or GGUF file the masks were made for")->required();
  app->add_option("out_dir", o->out, "New output directory (must not exist)")->required();
  app->add_option("--masks", o->masks, "Mask file (patchlm prune / learn)")->required();
  app->add_option("--format", o->format, "hf (the compact hybrid format is not available yet)")->capture_default_str();
  app->add_option("--dtype", o->dtype, "Stored dtype: f32, bf16, f16")->capture_default_str();
  app->add_option("--max-shard-size", o->max_shard, "Shard the weights above this size")->capture_default_str();
  return {app, [o] {
            if (o->format != "hf") {
              throw UsageError(str_cat("--format: ", in_quotes(o->format), " is not available (only hf for now)"));
            }
            const c10::ScalarType dtype = parse_compute_dtype("--dtype", o->dtype);
            const std::uint64_t shard = parse_byte_size("--max-shard-size", o->max_shard);
            if (std::filesystem::exists(o->out)) throw Error(str_cat(o->out, ": already exists (choose a new directory)"));
            const MaskSet masks = read_mask_file(o->masks);
            Checkpoint ckpt = load_checkpoint(o->model);
            auto hash = masks.metadata.find("source_model_hash");
            if (hash != masks.metadata.end() && hash->second != checkpoint_fingerprint(ckpt)) {
              log_warn("export", {{"masks", o->masks}, {"note", "made for a checkpoint with other weights (same shapes)"}});
            }
            apply_masks_to_checkpoint(ckpt, masks, o->masks);
            save_hf_checkpoint(ckpt, o->out, dtype, shard);
            std::cout << "wrote " << o->out << " (" << masks.layers.size() << " masked weights, sparsity "
                      << (masks.metadata.count("sparsity") ? masks.metadata.at("sparsity") : "?") << ")\n";
            return 0;
          }};
}

}  // namespace patchlm::cli
