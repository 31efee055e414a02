#pragma once
// Everything one `patchlm learn` run needs, set up from a plain request: the tokenized training data, the model,
// the priors (one-shot pruners on the fly or mask files), the trainer options with the identity a resumed run must
// share, and the mask file's metadata. The CLI only turns flags into a LearnRequest.
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "learn/priors.h"
#include "learn/trainer.h"

namespace patchlm {

struct LearnRequest {
  std::string model, tokenizer;  // tokenizer: a source other than the model's own (empty = the model's)
  std::filesystem::path data;    // training corpus (empty = python-docs)
  std::string split = "train";
  std::int64_t seq_len = LearnRun{}.seq_len;
  std::int64_t calib_samples = 128, calib_seq_len = 2048;  // calibration of on-the-fly priors
  std::int64_t max_sequences = 0;                          // 0 = every training sequence
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;  // compute dtype of the frozen model
  bool resume = false;
  PriorSpec prior;
  TrainerOptions trainer;  // mode, tile, loss (target sparsity), schedule, checkpoint_dir, metrics, ...
};

struct LearnSession {
  Checkpoint checkpoint;
  std::unique_ptr<Decoder> model;
  TrainerOptions trainer;
  MaskPriors priors;
  std::vector<std::vector<std::int64_t>> sequences;
  std::map<std::string, std::string> mask_metadata;
};

// UsageError / Error naming the setting when the request cannot work.
LearnSession prepare_learning(const LearnRequest& request);

// Keeps one metrics line per step up to `step` (a resumed run rewrites what comes after), dropping a torn last line
// (a run killed while appending); Error naming the line for any other malformed line. Rewritten atomically.
void truncate_metrics(const std::filesystem::path& file, std::int64_t step);

}  // namespace patchlm
