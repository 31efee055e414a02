#include "cli/learn_setup.h"

#include <fstream>

#include "cli/options.h"
#include "data/sampling.h"
#include "io/tokenizer/tokenizer.h"
#include "model/fingerprint.h"
#include "prune/calibration.h"
#include "util/error.h"
#include "util/json_io.h"
#include "util/log.h"

namespace patchlm::cli {

// Keeps the metrics lines of steps before `step` (a resumed run rewrites what comes after).
void truncate_metrics(const std::filesystem::path& file, std::int64_t step) {
  if (!std::filesystem::exists(file)) return;
  std::ifstream in(file);
  std::string kept, line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (parse_json_text(line, file.string()).value("step", std::int64_t{0}) <= step) kept += line + "\n";
  }
  in.close();
  std::ofstream(file, std::ios::trunc) << kept;
}

void add_learn_options(CLI::App& app, LearnCliOptions& o) {
  TrainerOptions& t = o.trainer;
  t.steps = 2000;
  t.batch = 128;
  app.add_option("model", o.model, "HF model directory or GGUF file")->required();
  app.add_option("--out", o.out, "Mask file to write (docs/masks.md)")->required();
  app.add_option("--mode", o.mode, "maskllm (2:4 only), tile (PATCH^Tile), joint (PATCH^Joint)")->capture_default_str();
  app.add_option("--target-sparsity", o.target_sparsity, "Global sparsity to reach, in [0, 0.5]")->capture_default_str();
  app.add_option("--prior", o.prior.prior_2to4, "2:4 prior: magnitude, wanda, sparsegpt, none, or a mask file")->capture_default_str();
  app.add_option("--tile-prior", o.prior.tile_prior, "Tile prior: wanda (unstructured at the target), magnitude, none, or a mask file")->capture_default_str();
  app.add_option("--steps", t.steps, "Optimizer steps")->capture_default_str();
  app.add_option("--batch", t.batch, "Sequences per step (global)")->capture_default_str();
  app.add_option("--micro-batch", t.micro_batch, "Sequences per forward pass")->capture_default_str();
  app.add_option("--seq-len", o.seq_len, "Tokens per training sequence")->capture_default_str();
  app.add_option("--data", o.data, "Training corpus: text file or folder (default: python-docs)");
  app.add_option("--split", o.split, "Corpus split to train on")->capture_default_str();
  app.add_option("--max-sequences", o.max_sequences, "Use at most this many training sequences (0 = all)")->capture_default_str();
  app.add_option("--tokenizer", o.tokenizer, "Tokenizer source when MODEL has none");
  app.add_option("--calib-samples", o.calib_samples, "Calibration sequences for on-the-fly priors")->capture_default_str();
  app.add_option("--calib-seq-len", o.calib_seq_len, "Tokens per calibration sequence")->capture_default_str();
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
  app.add_flag("--no-activation-checkpointing", o.no_activation_checkpointing, "Keep every block's activations (faster, more memory)");
  app.add_option("--checkpoint-dir", o.checkpoint_dir, "Where to write learning checkpoints (and metrics.jsonl)");
  app.add_option("--checkpoint-every", t.checkpoint_every, "Checkpoint every N steps (0 = at the end only)")->capture_default_str();
  app.add_flag("--resume", o.resume, "Continue from the checkpoint in --checkpoint-dir");
  app.add_option("--metrics", o.metrics, "JSONL metrics log (default: CHECKPOINT_DIR/metrics.jsonl)");
  app.add_flag("--exact-target", o.exact_target, "Flip the least confident tiles so the sparsity equals the target");
}

LearnSession prepare_learning(LearnCliOptions& o, const GlobalOptions& globals) {
  (void)globals;
  LearnSession s;
  TrainerOptions& t = o.trainer;
  t.mode = parse_mask_mode(o.mode);
  t.init.tile = parse_tile_shape("--tile-size", o.tile_size);
  t.loss.target_sparsity = o.target_sparsity;
  if (o.density_scope != "global" && o.density_scope != "block") {
    throw UsageError(str_cat("--density-scope: ", in_quotes(o.density_scope), " is not global or block"));
  }
  t.loss.per_block_density = o.density_scope == "block";
  t.activation_checkpointing = !o.no_activation_checkpointing;
  validate(t);
  const c10::Device device = parse_device("--device", o.device);
  const at::ScalarType dtype = o.dtype == "auto" ? (device.is_cuda() ? at::kBFloat16 : at::kFloat)
                                                 : parse_compute_dtype("--dtype", o.dtype);
  if (o.resume && o.checkpoint_dir.empty()) throw UsageError("--resume needs --checkpoint-dir");
  if (o.seq_len < 2) throw UsageError(str_cat("--seq-len: must be at least 2, got ", o.seq_len));
  t.checkpoint_dir = o.checkpoint_dir;
  t.metrics = !o.metrics.empty() ? std::filesystem::path(o.metrics)
              : o.checkpoint_dir.empty() ? std::filesystem::path() : std::filesystem::path(o.checkpoint_dir) / "metrics.jsonl";
  if (!o.checkpoint_dir.empty() && !o.resume && std::filesystem::exists(std::filesystem::path(o.checkpoint_dir) / "learn_state.safetensors")) {
    throw Error(str_cat("--checkpoint-dir ", o.checkpoint_dir, " already holds a checkpoint (pass --resume, or choose another folder)"));
  }

  if (!o.checkpoint_dir.empty()) std::filesystem::create_directories(o.checkpoint_dir);
  Tokenizer tok = Tokenizer::from_model(o.tokenizer.empty() ? o.model : o.tokenizer);
  SampleOptions data;
  data.corpus = o.data.empty() ? default_corpus_path() : std::filesystem::path(o.data);
  data.split = parse_split(o.split);
  data.count = 0;
  data.random_offsets = false;
  data.seq_len = o.seq_len;
  s.sequences = sample_sequences(tok, data);
  if (o.max_sequences > 0 && static_cast<std::int64_t>(s.sequences.size()) > o.max_sequences) {
    s.sequences.resize(static_cast<std::size_t>(o.max_sequences));
  }
  log_info("data", {{"corpus", data.corpus.string()}, {"sequences", s.sequences.size()}, {"seq_len", o.seq_len}});

  s.checkpoint = load_checkpoint(o.model);
  const std::string fingerprint = checkpoint_fingerprint(s.checkpoint);
  s.model = std::make_unique<Decoder>(s.checkpoint, dtype, device);
  if (t.mode != MaskMode::maskllm) {
    for (Proj* p : s.model->projections()) check_tiles_divide(p->name(), p->out_features(), p->in_features(), t.init.tile);
  }
  auto calibration = [&] {
    SampleOptions c;
    c.corpus = data.corpus;
    c.split = data.split;
    c.count = o.calib_samples;
    c.seq_len = o.calib_seq_len;
    c.seed = t.seed;
    return token_tensor(sample_sequences(tok, c));
  };
  // A resumed run's logits come from its checkpoint: only PATCH^Tile's fixed 2:4 prior is still needed.
  PriorSpec prior = o.prior;
  if (o.resume) prior.tile_prior = "none";
  if (!o.resume || t.mode == MaskMode::tile) {
    s.priors = build_priors(s.checkpoint, *s.model, t.mode, o.target_sparsity, prior, calibration);
  }
  t.run_identity = {{"model_hash", fingerprint}, {"seq_len", str_cat(o.seq_len)}, {"data", data.corpus.string()},
                    {"split", o.split}, {"sequences", str_cat(s.sequences.size())}, {"dtype", c10::toString(dtype)},
                    {"prior", o.prior.prior_2to4}, {"tile_prior", o.prior.tile_prior}};
  s.mask_metadata = {{"method", str_cat("patch-", mode_name(t.mode))}, {"mode", mode_name(t.mode)},
                     {"target_sparsity", str_cat(o.target_sparsity)}, {"pattern", "hybrid 2:4 / dense tiles"},
                     {"tile", t.init.tile.name()}, {"prior", o.prior.prior_2to4}, {"tile_prior", o.prior.tile_prior},
                     {"steps", str_cat(t.steps)}, {"batch", str_cat(t.batch)}, {"seq_len", str_cat(o.seq_len)},
                     {"seed", str_cat(t.seed)}, {"source_model", o.model}, {"source_model_hash", fingerprint}};
  if (t.mode == MaskMode::maskllm) s.mask_metadata["pattern"] = "2:4";
  s.trainer = t;
  return s;
}

}  // namespace patchlm::cli
