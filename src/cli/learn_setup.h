#pragma once
// The flags of `patchlm learn` (defaults from learn/options.h, i.e. PATCH.md) and turning them into a ready
// learning session: model, tokenized data, priors, trainer options, the mask file's metadata.
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "learn/priors.h"
#include "learn/trainer.h"

namespace patchlm::cli {

struct LearnCliOptions {
  std::string model, tokenizer, mode = "joint", data, split = "train", out, dtype = "auto", device = "cpu";
  std::string tile_size = "128x128", density_scope = "global", checkpoint_dir, metrics;
  double target_sparsity = 0.35;
  std::int64_t seq_len = 4096, calib_samples = 128, calib_seq_len = 2048, max_sequences = 0;
  bool resume = false, exact_target = false, no_activation_checkpointing = false;
  PriorSpec prior;
  TrainerOptions trainer;
};

void add_learn_options(CLI::App& app, LearnCliOptions& o);

struct LearnSession {
  Checkpoint checkpoint;
  std::unique_ptr<Decoder> model;
  TrainerOptions trainer;
  MaskPriors priors;
  std::vector<std::vector<std::int64_t>> sequences;
  std::map<std::string, std::string> mask_metadata;
};

LearnSession prepare_learning(LearnCliOptions& o, const GlobalOptions& globals);

// Keeps the metrics lines of steps up to `step` (a resumed run rewrites what comes after).
void truncate_metrics(const std::filesystem::path& file, std::int64_t step);

}  // namespace patchlm::cli
