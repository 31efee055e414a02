// `patchlm export MODEL --masks masks.safetensors --format hf|hybrid OUT_DIR`:
//   hf     — a HF checkpoint with the pruned weights set to zero, the same config and tokenizer files; transformers
//            loads it and computes what `eval --masks` computes;
//   hybrid — patchlm's compact checkpoint (docs/format.md): masked weights packed as 2:4 and dense tiles, bf16, as
//            the GPU kernel reads them; `patchlm eval / generate / forward` load it directly.
#include <iostream>

#include "cli/command.h"
#include "cli/options.h"
#include "export/hybrid_export.h"
#include "model/masks.h"
#include "model/fingerprint.h"
#include "util/error.h"
#include "util/output_paths.h"
#include "util/log.h"

namespace patchlm::cli {

Command add_export_command(CLI::App& root, const GlobalOptions&) {
  struct Options {
    std::string model, masks, format = "hf", out, dtype = "f32", max_shard = "5GB", tile = "128x128";
  };
  auto o = std::make_shared<Options>();
  auto* app = root.add_subcommand("export", "Apply a mask file and write the pruned model");
  app->add_option("model", o->model, "HF model directory or GGUF file the masks were made for")->required();
  app->add_option("out_dir", o->out, "New output directory (must not exist)")->required();
  app->add_option("--masks", o->masks, "Mask file (patchlm prune / learn)")->required();
  app->add_option("--format", o->format, "hf (zeros in a HF checkpoint) or hybrid (packed 2:4 / dense tiles)")
      ->capture_default_str();
  app->add_option("--dtype", o->dtype, "hf: stored dtype f32, bf16, f16 (hybrid is always bf16)")->capture_default_str();
  app->add_option("--tile-size", o->tile, "hybrid: tile shape (multiples of 16x64; a tile is stored 2:4 when every group keeps at most 2)")
      ->capture_default_str();
  app->add_option("--max-shard-size", o->max_shard, "Shard the weights above this size")->capture_default_str();
  return {app, [o] {
            if (o->format != "hf" && o->format != "hybrid") {
              throw UsageError(str_cat("--format: ", in_quotes(o->format), " (use hf or hybrid)"));
            }
            const TileShape tile = parse_tile_shape("--tile-size", o->tile);
            try {
              check_packable_tile(tile, "--tile-size");
            } catch (const Error& e) {
              throw UsageError(e.what());  // before the slow load, as a usage error
            }
            const c10::ScalarType dtype = parse_compute_dtype("--dtype", o->dtype);
            const std::uint64_t shard = parse_byte_size("--max-shard-size", o->max_shard);
            check_new_output_dir(o->out, "out_dir", {o->model, o->masks});
            const MaskSet masks = read_mask_file(o->masks);
            Checkpoint ckpt = load_checkpoint(o->model);
            ckpt.unpack_hybrid();  // the whole checkpoint is rewritten: packed weights as the dense ones they stand for
            auto hash = masks.metadata.find("source_model_hash");
            if (hash != masks.metadata.end() && hash->second != checkpoint_fingerprint(ckpt)) {
              log_warn("export", {{"masks", o->masks}, {"note", "made for a checkpoint with other weights (same shapes)"}});
            }
            if (o->format == "hybrid") {
              HybridExportSummary s = export_hybrid(ckpt, masks, o->masks, o->out, tile);
              std::cout << "wrote " << o->out << ": " << s.packed << " weights packed in " << tile.name()
                        << " tiles (2:4 tile share " << s.two_four_tile_share << "), "
                        << static_cast<double>(s.packed_bytes) / 1e6 << " MB instead of "
                        << static_cast<double>(s.dense_bytes) / 1e6 << " MB dense bf16";
              if (s.stored_dense) std::cout << "; " << s.stored_dense << " masked weights not divided by the tile stored dense";
              std::cout << "\n";
              return 0;
            }
            apply_masks(ckpt, masks, o->masks);
            save_hf_checkpoint(ckpt, o->out, dtype, shard);
            std::cout << "wrote " << o->out << " (" << masks.layers.size() << " masked weights, sparsity "
                      << (masks.metadata.count("sparsity") ? masks.metadata.at("sparsity") : "?") << ")\n";
            return 0;
          }};
}

}  // namespace patchlm::cli
