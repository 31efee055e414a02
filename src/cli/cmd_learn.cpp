// `patchlm learn MODEL --mode joint --target-sparsity 0.35 --prior sparsegpt --steps N --batch B --seq-len L
//  --data CORPUS --out masks.safetensors`: PATCH mask learning (learn/trainer) with every hyper-parameter of
// ../shared/PATCH.md as a flag with its default; priors computed on the fly (one-shot pruners) or read from mask
// files; checkpoints, --resume, a JSONL metrics log; the final hard mask with per-layer sparsity.
#include <cstdio>
#include <optional>

#include "cli/command.h"
#include "cli/learn_setup.h"
#include "cli/options.h"
#include "learn/final_mask.h"
#include "util/error.h"
#include "util/log.h"

namespace patchlm::cli {
namespace {

void print_summary(const FinalMask& fm, MaskMode mode) {
  std::printf("| layer | shape | sparsity | 2:4 tiles |\n|---|---|---|---|\n");
  for (const LayerSummary& l : fm.layers) {
    std::printf("| %s | %lldx%lld | %.4f | %.3f |\n", l.name.c_str(), static_cast<long long>(l.rows),
                static_cast<long long>(l.cols), l.sparsity, l.sparse_tile_share);
  }
  std::printf("| **all %zu projections (%s)** | | %.4f | |\n", fm.layers.size(), mode_name(mode), fm.sparsity);
}

}  // namespace

Command add_learn_command(CLI::App& root, const GlobalOptions& globals) {
  auto o = std::make_shared<LearnCliOptions>();
  auto* app = root.add_subcommand("learn", "PATCH mask learning: MaskLLM, PATCH^Tile, PATCH^Joint");
  add_learn_options(*app, *o);
  return {app, [o, &globals] {
            LearnSession s = prepare_learning(*o, globals);
            Trainer trainer(*s.model, s.trainer, s.priors);
            if (o->resume) {
              trainer.resume(s.trainer.checkpoint_dir);
              if (s.trainer.rank == 0 && !s.trainer.metrics.empty()) truncate_metrics(s.trainer.metrics, trainer.step());
            }
            trainer.train(s.sequences);
            if (s.trainer.rank != 0) return 0;
            const std::optional<double> exact = o->exact_target ? std::optional<double>(o->target_sparsity) : std::nullopt;
            FinalMask fm = final_mask(trainer.layers(), s.trainer.mode, s.trainer.init.tile, exact);
            print_summary(fm, s.trainer.mode);
            fm.masks.metadata = s.mask_metadata;
            fm.masks.metadata["sparsity"] = str_cat(fm.sparsity);
            fm.masks.metadata["exact_target_flipped_tiles"] = str_cat(fm.flipped_tiles);
            write_mask_file(o->out, fm.masks);
            log_info("learned", {{"mode", o->mode}, {"sparsity", fm.sparsity}, {"out", o->out},
                                 {"final_ce", trainer.last_metrics().ce}});
            return 0;
          }};
}

}  // namespace patchlm::cli
