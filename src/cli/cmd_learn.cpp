// `patchlm learn MODEL --mode joint --target-sparsity 0.35 --prior sparsegpt --steps N --batch B --seq-len L
//  --data CORPUS --out masks.safetensors`: PATCH mask learning (learn/trainer) with every hyper-parameter of
// ../shared/PATCH.md as a flag with its default (learn/options.h); priors computed on the fly (one-shot pruners) or
// read from mask files; checkpoints, --resume, a JSONL metrics log; the final hard mask with per-layer sparsity.
#include <cstdio>
#include <optional>

#include "cli/command.h"
#include "cli/options.h"
#include "learn/final_mask.h"
#include "learn/session.h"
#include "learn/distributed.h"
#include "util/error.h"
#include "util/exact_decimal.h"
#include "util/output_paths.h"
#include "util/log.h"

namespace patchlm::cli {
namespace {

struct LearnFlags {
  LearnRequest request;
  std::string mode = "joint", tile_size = "128x128", density_scope = "global", dtype = "auto", device = "cpu";
  std::string state_dtype = "fp32";
  double dist_timeout_s = 600;
  std::string data, checkpoint_dir, metrics, out;
  bool exact_target = false, no_activation_checkpointing = false;
  bool target_given = false;  // --target-sparsity was on the command line
};

void add_learn_options(CLI::App& app, LearnFlags& o) {
  LearnRequest& r = o.request;
  TrainerOptions& t = r.trainer;
  app.add_option("model", r.model, "HF model directory or GGUF file")->required();
  app.add_option("--out", o.out, "Mask file to write (docs/masks.md)")->required();
  app.add_option("--mode", o.mode, "maskllm (2:4 only), tile (PATCH^Tile), joint (PATCH^Joint)")->capture_default_str();
  app.add_option("--target-sparsity", t.loss.target_sparsity, "Global sparsity to reach, in [0, 0.5] (maskllm: 0.5)")
      ->capture_default_str()
      ->each([&o](const std::string&) { o.target_given = true; });
  app.add_option("--prior", r.prior.prior_2to4, "2:4 prior: magnitude, wanda, sparsegpt, none, or a mask file")->capture_default_str();
  app.add_option("--tile-prior", r.prior.tile_prior, "Tile prior: wanda (unstructured at the target), magnitude, none, or a mask file")->capture_default_str();
  app.add_option("--steps", t.steps, "Optimizer steps")->capture_default_str();
  app.add_option("--batch", t.batch, "Sequences per step (global)")->capture_default_str();
  app.add_option("--micro-batch", t.micro_batch, "Sequences per forward pass")->capture_default_str();
  app.add_option("--seq-len", r.seq_len, "Tokens per training sequence")->capture_default_str();
  app.add_option("--data", o.data, "Training corpus: text file or folder (default: python-docs)");
  app.add_option("--split", r.split, "Corpus split to train on")->capture_default_str();
  app.add_option("--max-sequences", r.max_sequences, "Use at most this many training sequences (0 = all)")->capture_default_str();
  app.add_option("--tokenizer", r.tokenizer, "Tokenizer source when MODEL has none");
  app.add_option("--calib-samples", r.calib_samples, "Calibration sequences for on-the-fly priors")->capture_default_str();
  app.add_option("--calib-seq-len", r.calib_seq_len, "Tokens per calibration sequence")->capture_default_str();
  app.add_option("--lr", t.schedule.lr, "AdamW learning rate (cosine schedule)")->capture_default_str();
  app.add_option("--warmup", t.schedule.warmup_steps, "Warm-up steps")->capture_default_str();
  app.add_option("--weight-decay", t.optimizer.weight_decay, "AdamW weight decay (default: 0.1 maskllm, 0 tile/joint)");
  app.add_option("--beta2", t.optimizer.beta2, "AdamW beta2")->capture_default_str();
  app.add_option("--tau-start", t.schedule.tau_start, "Gumbel temperature at the start")->capture_default_str();
  app.add_option("--tau-end", t.schedule.tau_end, "... at the end")->capture_default_str();
  app.add_option("--kappa24-start", t.schedule.kappa24_start, "2:4 logit scaler at the start")->capture_default_str();
  app.add_option("--kappa24-end", t.schedule.kappa24_end, "... at the end")->capture_default_str();
  app.add_option("--kappat-start", t.schedule.kappat_start, "Tile logit scaler at the start")->capture_default_str();
  app.add_option("--kappat-end", t.schedule.kappat_end, "... at the end")->capture_default_str();
  app.add_option("--sparse-reg", t.loss.sparse_reg, "λs of |density − target|")->capture_default_str();
  app.add_option("--weight-reg", t.loss.weight_reg, "λw of the decaying weight-magnitude term")->capture_default_str();
  app.add_option("--density-scope", o.density_scope, "global or block (per-block density regulariser)")->capture_default_str();
  app.add_option("--init-std", t.init.init_std, "Std of the logits' initialisation")->capture_default_str();
  app.add_option("--prior-strength-24", t.init.prior_strength_24, "Strength of the 2:4 prior")->capture_default_str();
  app.add_option("--prior-strength-tile", t.init.prior_strength_tile, "Strength of the tile prior")->capture_default_str();
  app.add_option("--tile-size", o.tile_size, "Tile shape, must divide every masked layer")->capture_default_str();
  app.add_option("--seed", t.seed, "Seed of initialisation, Gumbel noise and data order")->capture_default_str();
  app.add_option("--device", o.device, "cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--dtype", o.dtype, "Compute dtype of the frozen model: auto (bf16 on CUDA, f32 on CPU), f32, bf16")->capture_default_str();
  app.add_option("--state-dtype", o.state_dtype,
                 "2:4 logits and AdamW moments: fp32, or bf16 with stochastic rounding (half the memory)")
      ->capture_default_str();
  app.add_flag("--no-activation-checkpointing", o.no_activation_checkpointing, "Keep every block's activations (faster, more memory)");
  app.add_option("--checkpoint-blocks", r.trainer.checkpoint_blocks,
                 "Recompute only the first N blocks in the backward pass, keep the others' activations (-1: all)")
      ->capture_default_str();
  app.add_option("--checkpoint-dir", o.checkpoint_dir, "Where to write learning checkpoints (and metrics.jsonl)");
  app.add_option("--checkpoint-every", t.checkpoint_every, "Checkpoint every N steps (0 = at the end only)")->capture_default_str();
  app.add_flag("--resume", r.resume, "Continue from the checkpoint in --checkpoint-dir");
  app.add_option("--metrics", o.metrics, "JSONL metrics log (default: CHECKPOINT_DIR/metrics.jsonl)");
  app.add_flag("--shard-masks", r.trainer.shard_masks,
               "Data-parallel runs: each rank holds 1/WORLD_SIZE of the 2:4 logits and AdamW moments (ZeRO-3 over mask state)");
  app.add_option("--dist-timeout", o.dist_timeout_s,
                 "Data-parallel runs (torchrun: WORLD_SIZE > 1): seconds a collective may wait for the other ranks")
      ->capture_default_str();
  app.add_flag("--exact-target", o.exact_target, "Flip the least confident tiles so the sparsity equals the target");
}

// The flags that need parsing, into the request.
LearnRequest request_of(const LearnFlags& o) {
  LearnRequest r = o.request;
  TrainerOptions& t = r.trainer;
  t.mode = parse_mask_mode(o.mode);
  if (t.mode == MaskMode::maskllm && !o.target_given) t.loss.target_sparsity = 0.5;  // 2:4 masks: 50 %, always
  t.init.tile = parse_tile_shape("--tile-size", o.tile_size);
  if (o.density_scope != "global" && o.density_scope != "block") {
    throw UsageError(str_cat("--density-scope: ", in_quotes(o.density_scope), " is not global or block"));
  }
  t.loss.per_block_density = o.density_scope == "block";
  if (o.no_activation_checkpointing) t.checkpoint_blocks = 0;
  t.state_dtype = parse_state_dtype(o.state_dtype);
  r.device = parse_device("--device", o.device);
  r.dtype = o.dtype == "auto" ? (r.device.is_cuda() ? at::kBFloat16 : at::kFloat) : parse_compute_dtype("--dtype", o.dtype);
  r.data = o.data;
  t.checkpoint_dir = o.checkpoint_dir;
  t.metrics = !o.metrics.empty()            ? std::filesystem::path(o.metrics)
              : o.checkpoint_dir.empty() ? std::filesystem::path()
                                         : std::filesystem::path(o.checkpoint_dir) / "metrics.jsonl";
  return r;
}

void print_summary(const FinalMask& fm, MaskMode mode) {
  std::printf("| layer | shape | sparsity | 2:4 tiles |\n|---|---|---|---|\n");
  for (const LayerSummary& l : fm.layers) {
    std::printf("| %s | %lldx%lld | %.4f | %.3f |\n", l.name.c_str(), static_cast<long long>(l.rows),
                static_cast<long long>(l.cols), l.sparsity, l.two_four_tile_share);
  }
  std::printf("| **all %zu projections (%s)** | | %.4f | |\n", fm.layers.size(), mode_name(mode), fm.sparsity);
}

}  // namespace

Command add_learn_command(CLI::App& root, const GlobalOptions&) {
  auto o = std::make_shared<LearnFlags>();
  auto* app = root.add_subcommand("learn", "PATCH mask learning: MaskLLM, PATCH^Tile, PATCH^Joint");
  add_learn_options(*app, *o);
  return {app, [o] {
            LearnRequest request = request_of(*o);
            const BackendShutdown ranks{join_launched_ranks(request.trainer, request.device, o->dist_timeout_s)};
            const std::vector<std::filesystem::path> inputs = {request.model, request.tokenizer, request.data,
                                                               request.prior.prior_2to4, request.prior.tile_prior};
            check_output_file(o->out, "--out", inputs);
            const std::filesystem::path& dir = request.trainer.checkpoint_dir;
            if (!dir.empty()) check_output_dir(dir, "--checkpoint-dir", inputs);
            const std::filesystem::path& metrics = request.trainer.metrics;
            const bool in_new_dir = !dir.empty() && metrics.parent_path() == dir && !std::filesystem::exists(dir);
            if (!metrics.empty() && !in_new_dir) check_output_file(metrics, "--metrics", inputs);
            LearnSession s = prepare_learning(request);
            Trainer trainer(*s.model, s.trainer, s.priors);
            if (request.resume) trainer.resume(s.trainer.checkpoint_dir);
            // The log keeps one line per step up to where this run starts (a resumed run rewrites what follows).
            if (s.trainer.rank == 0 && !s.trainer.metrics.empty()) truncate_metrics(s.trainer.metrics, trainer.step());
            trainer.train(s.sequences);
            const std::vector<LayerLogits> layers = trainer.final_layers();  // sharded: gathered (every rank takes part)
            if (s.trainer.rank != 0) return 0;
            const double target = s.trainer.loss.target_sparsity;
            FinalMask fm = final_mask(layers, s.trainer.mode, s.trainer.init.tile,
                                      o->exact_target ? std::optional<double>(target) : std::nullopt);
            print_summary(fm, s.trainer.mode);
            fm.masks.metadata = s.mask_metadata;
            fm.masks.metadata["sparsity"] = exact_decimal(fm.sparsity);
            fm.masks.metadata["exact_target_flipped_tiles"] = str_cat(fm.flipped_tiles);
            write_mask_file(o->out, fm.masks);
            log_info("learned", {{"mode", o->mode}, {"sparsity", fm.sparsity}, {"out", o->out},
                                 {"final_ce", trainer.last_metrics().ce}});
            return 0;
          }};
}

}  // namespace patchlm::cli
