#pragma once
// PATCH mask learning (nanoGPT-style loop): per step, for each micro-batch, run the frozen model through the Linear
// seam with every layer's W ⊙ M under fresh Gumbel noise; loss = (CE + λs·|density − target| −
// λw·(1 − s/S)·Σ‖M⊙W‖/Σ‖W‖) / accumulation; backward; AdamW on the logits with the cosine learning rate.
// Lean by construction:
//   - each decoder block forms its projections' W ⊙ M itself with the fused mask op (fused_mask.h) and, under
//     activation checkpointing, forms them again in its backward pass: the masked weights of one block exist at a
//     time, the soft masks and their noise never;
//   - a layer's 2:4-logit gradient goes from the fused op's backward straight into AdamW (logit_adamw.h) once the
//     step's last micro-batch produced it — no whole-model gradient buffer (earlier micro-batches of a step keep a
//     running sum per layer);
//   - the 2:4 logits and the AdamW moments can be bf16 with stochastic rounding (--state-dtype);
//   - the cross-entropy runs over chunks of the vocabulary logits (chunked_cross_entropy.h);
//   - with shard_masks each rank holds a slice of the 2:4 logits and of their moments (mask_shards.h).
// Deterministic for a seed; periodic checkpoints (logits + optimizer + step; the noise is a function of seed and
// step) let a killed run resume bit-identically on the CPU.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include <ATen/ATen.h>

#include "data/sequence_order.h"
#include "io/mask_file.h"
#include "learn/fused_mask.h"
#include "learn/hybrid_mask.h"
#include "learn/logit_adamw.h"
#include "learn/mask_shards.h"
#include "learn/options.h"
#include "learn/tile_bank.h"
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
  at::ScalarType state_dtype = at::kFloat;  // the 2:4 logits and every AdamW moment: fp32 or bf16 (--state-dtype)
  std::int64_t steps = LearnRun{}.steps;
  std::int64_t batch = LearnRun{}.batch;              // sequences per optimizer step (all ranks together)
  std::int64_t micro_batch = LearnRun{}.micro_batch;  // sequences per forward pass
  std::uint64_t seed = 0;
  // Blocks run under activation checkpointing, counted from the first; the others keep their activations (faster:
  // no recomputation; more memory). -1 = all, 0 = none.
  std::int64_t checkpoint_blocks = -1;
  std::int64_t checkpoint_every = 0;  // steps; 0 = only at the end
  std::filesystem::path checkpoint_dir;  // empty = no checkpoints
  std::filesystem::path metrics;         // JSONL, one line per step; empty = none
  // Settings a resumed run must share with the run that wrote the checkpoint (model hash, data, sequence length,
  // ...): saved in every checkpoint and compared on resume, next to mode, steps, batch, seed and target.
  std::map<std::string, std::string> run_identity;
  int rank = 0, world_size = 1;
  // Called after every optimizer step (rank 0 and others alike), e.g. by benchmarks.
  std::function<void(const StepMetrics&)> on_step;
  // All-reduces (averages) gradients over ranks — each layer's 2:4-logit gradient when its backward of the step is
  // complete, then the tile logits' gradients and the loss terms; null = one process.
  std::function<void(std::vector<at::Tensor>& grads)> all_reduce_mean;
  // --shard-masks: each rank owns a slice of every layer's 2:4 logits and AdamW moments (mask_shards.h), through
  // shard_collectives (required when world_size > 1; one process gathers and scatters by copying).
  bool shard_masks = false;
  ShardCollectives shard_collectives;
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
  // One micro-batch forward + backward with the Gumbel noise of `key` (gumbel.h, noise_key); the last micro-batch of
  // a step (`last`) also applies AdamW to the 2:4 logits, layer by layer. Adds its [loss, ce, density, weight term]
  // ÷ accumulation to step_terms (fp64, on the model's device: read at the step's end, so no wait between
  // micro-batches).
  void micro_step(const at::Tensor& ids, std::int64_t accumulation, std::uint64_t key, bool last,
                  at::Tensor& step_terms);

  // The layers as trained. With shard_masks their logits_2to4 are this rank's flat slices: final_layers() has them
  // whole.
  std::vector<LayerLogits>& layers() { return layers_; }
  const std::vector<LayerLogits>& layers() const { return layers_; }
  // The layers with whole 2:4 logits, for the final mask. With shard_masks a collective (every rank calls it) whose
  // whole logits are kept on rank 0 only (the other ranks' come back undefined); otherwise layers() itself.
  std::vector<LayerLogits> final_layers() const;
  std::int64_t step() const { return step_; }
  const TrainerOptions& options() const { return options_; }
  const StepMetrics& last_metrics() const { return last_; }
  // Rank 0 writes; with shard_masks a collective (every rank calls it: the state is gathered to write it whole).
  void save_checkpoint(const std::filesystem::path& dir) const;

 private:
  void init_layers(const MaskPriors& priors);
  void append_metrics(const StepMetrics& m) const;
  // The fused op's backward hands layer i's dL/dL24 here (trainer.cpp says what happens to it).
  void take_grad_2to4(std::size_t layer, const at::Tensor& grad);
  // End of a step: all-reduce the loss terms, check the loss, all-reduce and apply the tile logits' gradients;
  // returns the all-reduced loss terms (fp64, on the CPU).
  at::Tensor finish_step(at::Tensor sums);
  // Throws, naming the step, unless `loss` is finite.
  void check_loss_is_finite(double loss) const;
  bool sharded(std::size_t layer) const { return options_.shard_masks && layers_[layer].logits_2to4.defined(); }
  // Layer i's whole 2:4 logits (gathered when sharded: a collective).
  at::Tensor whole_2to4(std::size_t layer) const;

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
  std::unique_ptr<LogitAdamW> optimizer_;
  static constexpr std::size_t kNoSlot = static_cast<std::size_t>(-1);
  std::vector<std::size_t> slot_2to4_;              // per layer: its 2:4 logits' index in optimizer_, or kNoSlot
  TileBank tile_bank_;                              // every layer's tile logits (tile, joint)
  std::size_t slot_tiles_ = kNoSlot;                // the tile bank's index in optimizer_
  at::Tensor layer_totals_;                         // [L] float: numel(M) of each layer
  at::Tensor block_membership_;                     // [blocks, L]: per_block_sparsity_regularizer's
  std::vector<LogitGradSink> sinks_;                // per layer: take_grad_2to4(layer, ·)
  std::vector<at::Tensor> grad_sum_2to4_;            // per layer: the step's earlier micro-batches' gradients
  std::vector<ShardLayout> shards_;                 // per layer: its 2:4 logits' slices (shard_masks)
  ShardCollectives collectives_;                    // shard_masks: the options' or one process's
  at::Tensor anchor_;                               // ties each fused op into the backward pass (fused_mask.h)
  bool last_micro_ = true;                          // the micro-batch now running is the step's last
  double lr_ = 0;                                   // this step's learning rate
  std::int64_t step_ = 0;
  StepMetrics last_;
};

}  // namespace patchlm
