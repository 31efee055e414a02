#pragma once
// PATCH mask learning (nanoGPT-style loop): per step, for each micro-batch, form every layer's W ⊙ M with its soft
// hybrid mask under fresh Gumbel noise (the fused mask op), run the frozen model through the Linear seam with it
// (activation checkpointing per block), loss = (CE + λs·|density − target| − λw·(1 − s/S)·Σ‖M⊙W‖/Σ‖W‖) / accumulation, backward into the
// logits; then one AdamW step on the logits with the cosine learning rate. Deterministic for a seed; periodic
// checkpoints (logits + optimizer + RNG + step) let a killed run resume bit-identically on the CPU.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include <ATen/ATen.h>
#include <torch/optim/adamw.h>

#include "data/sequence_order.h"
#include "io/mask_file.h"
#include "learn/hybrid_mask.h"
#include "learn/options.h"
#include "model/decoder.h"

namespace patchlm {

struct StepMetrics {
  std::int64_t step = 0;
  double loss = 0, ce = 0, density = 0, weight_term = 0, lr = 0, tokens_per_s = 0, seconds = 0;
  SampleParams params;
};

struct TrainerOptions {
  MaskMode mode = MaskMode::joint;
  MaskInit init;
  LearnSchedule schedule;
  LearnLoss loss;
  LearnOptimizer optimizer;
  std::int64_t steps = LearnRun{}.steps;
  std::int64_t batch = LearnRun{}.batch;              // sequences per optimizer step (all ranks together)
  std::int64_t micro_batch = LearnRun{}.micro_batch;  // sequences per forward pass
  std::uint64_t seed = 0;
  bool activation_checkpointing = true;
  std::int64_t checkpoint_every = 0;  // steps; 0 = only at the end
  std::filesystem::path checkpoint_dir;  // empty = no checkpoints
  std::filesystem::path metrics;         // JSONL, one line per step; empty = none
  // Settings a resumed run must share with the run that wrote the checkpoint (model hash, data, sequence length,
  // ...): saved in every checkpoint and compared on resume, next to mode, steps, batch, seed and target.
  std::map<std::string, std::string> run_identity;
  int rank = 0, world_size = 1;
  // Called after every optimizer step (rank 0 and others alike), e.g. by benchmarks.
  std::function<void(const StepMetrics&)> on_step;
  // All-reduces (averages) the logits' gradients over ranks after each step's backward passes; null = one process.
  std::function<void(std::vector<at::Tensor>& grads)> all_reduce_mean;
};

// UsageError naming the flag when the options cannot work (steps, batch split, target range).
void validate(const TrainerOptions& options);

// Priors by weight name: a 2:4 keep-mask (bool [out, in]) for the 2:4 logits (required in tile mode), and an
// unstructured keep-mask at the target sparsity for the tile logits. Layers without one start from noise.
struct MaskPriors {
  std::map<std::string, at::Tensor> keep_2to4;
  std::map<std::string, at::Tensor> keep_unstructured;
};

class Trainer {
 public:
  // Installs MaskedLinear strategies on every projection of `model` (removed again by the destructor).
  Trainer(Decoder& model, TrainerOptions options, const MaskPriors& priors);
  ~Trainer();

  // Restores logits, optimizer, RNG and step from a checkpoint written by a run with the same settings.
  void resume(const std::filesystem::path& checkpoint_dir);
  // Trains from the current step to options.steps. `sequences` is the pool of token sequences (equal lengths).
  void train(const std::vector<std::vector<std::int64_t>>& sequences);
  // One micro-batch forward + backward (gradients accumulate) with the Gumbel noise of `key` (gumbel.h, noise_key);
  // returns {loss, ce, density, weight term}.
  std::vector<double> micro_step(const at::Tensor& ids, std::int64_t accumulation, std::uint64_t key);

  std::vector<LayerLogits>& layers() { return layers_; }
  const std::vector<LayerLogits>& layers() const { return layers_; }
  std::int64_t step() const { return step_; }
  const TrainerOptions& options() const { return options_; }
  const StepMetrics& last_metrics() const { return last_; }
  std::vector<at::Tensor> parameters() const;

  void save_checkpoint(const std::filesystem::path& dir) const;

 private:
  void init_layers(const MaskPriors& priors);
  void append_metrics(const StepMetrics& m) const;

  Decoder& model_;
  TrainerOptions options_;
  std::vector<Proj*> projs_;
  std::vector<std::vector<std::size_t>> block_layers_;  // per decoder block: its projections' indices in projs_
  std::vector<std::int64_t> block_of_;                  // per projection: its decoder block
  std::vector<std::shared_ptr<MaskedLinear>> strategies_;
  std::vector<LayerLogits> layers_;
  std::vector<at::Tensor> weights_;     // frozen weights, as the model holds them
  double weight_norm_total_ = 0;
  at::Generator generator_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  std::int64_t step_ = 0;
  StepMetrics last_;
};

}  // namespace patchlm
