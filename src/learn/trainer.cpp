#include "learn/trainer.h"

#include <chrono>
#include <cmath>
#include <fstream>

#include "learn/activation_checkpoint.h"
#include "learn/chunked_cross_entropy.h"
#include "learn/denormals.h"
#include "learn/fused_mask.h"
#include "learn/gumbel.h"
#include "learn/mask_2to4.h"
#include "learn/regularizers.h"
#include "learn/schedule.h"
#include "learn/tile_mask.h"
#include "util/error.h"
#include "util/json_io.h"
#include "util/progress.h"

namespace patchlm {

void validate(const TrainerOptions& o) {
  if (o.steps < 1) throw UsageError(str_cat("--steps: must be positive, got ", o.steps));
  if (o.checkpoint_blocks < -1)
    throw UsageError(str_cat("--checkpoint-blocks: must be a count of blocks (or -1 for all), got ", o.checkpoint_blocks));
  if (o.micro_batch < 1 || o.batch < 1 || o.batch % (o.micro_batch * o.world_size) != 0) {
    throw UsageError(str_cat("--batch (", o.batch, ") must be a positive multiple of --micro-batch (", o.micro_batch,
                             ") times the number of processes (", o.world_size, ")"));
  }
  if (!(o.loss.target_sparsity >= 0 && o.loss.target_sparsity <= 0.5)) {
    throw UsageError(str_cat("--target-sparsity: must be in [0, 0.5], got ", o.loss.target_sparsity));
  }
  // Every number of the schedule, loss and optimizer: finite and in range, named by its flag.
  auto positive = [](const char* flag, double v) {
    if (!(std::isfinite(v) && v > 0)) throw UsageError(str_cat(flag, ": must be a positive number, got ", v));
  };
  auto non_negative = [](const char* flag, double v) {
    if (!(std::isfinite(v) && v >= 0)) throw UsageError(str_cat(flag, ": must be a number >= 0, got ", v));
  };
  positive("--tau-start", o.schedule.tau_start);
  positive("--tau-end", o.schedule.tau_end);
  positive("--kappa24-start", o.schedule.kappa24_start);
  positive("--kappa24-end", o.schedule.kappa24_end);
  positive("--kappat-start", o.schedule.kappat_start);
  positive("--kappat-end", o.schedule.kappat_end);
  positive("--lr", o.schedule.lr);
  positive("--init-std", o.init.init_std);
  non_negative("--sparse-reg", o.loss.sparse_reg);
  non_negative("--weight-reg", o.loss.weight_reg);
  non_negative("--prior-strength-24", o.init.prior_strength_24);
  non_negative("--prior-strength-tile", o.init.prior_strength_tile);
  if (o.schedule.warmup_steps < 0) throw UsageError(str_cat("--warmup: must be >= 0, got ", o.schedule.warmup_steps));
  if (!(o.optimizer.beta1 >= 0 && o.optimizer.beta1 < 1)) throw UsageError(str_cat("--beta1: must be in [0, 1), got ", o.optimizer.beta1));
  if (!(o.optimizer.beta2 >= 0 && o.optimizer.beta2 < 1)) throw UsageError(str_cat("--beta2: must be in [0, 1), got ", o.optimizer.beta2));
  positive("--eps", o.optimizer.eps);
  if (o.optimizer.weight_decay >= 0 || std::isnan(o.optimizer.weight_decay)) non_negative("--weight-decay", o.optimizer.weight_decay);
  if (o.loss.target_sparsity != 0.5 && o.mode == MaskMode::maskllm)
    throw UsageError(str_cat("--target-sparsity: maskllm mode learns 2:4 masks, which are 50 % sparse; ",
                             o.loss.target_sparsity, " cannot be reached (use --mode tile or joint, or 0.5)"));
}

Trainer::Trainer(Decoder& model, TrainerOptions options, const MaskPriors& priors)
    : model_(model), options_(std::move(options)), projs_(model.projections()) {
  const TrainerOptions& o = options_;
  validate(o);
  if (model.device().is_cpu()) flush_denormals_on_cpu();
  generator_ = at::globalContext().defaultGenerator(model.device()).clone();
  generator_.set_current_seed(o.seed);
  optimizer_ = std::make_unique<LogitAdamW>(o.optimizer, o.optimizer.effective_weight_decay(o.mode), o.state_dtype, o.seed);
  if (o.shard_masks) {
    const bool given = o.shard_collectives.all_gather && o.shard_collectives.reduce_scatter_mean;
    if (!given && o.world_size > 1) throw Error("--shard-masks: no collectives to shard the mask state over the ranks");
    collectives_ = given ? o.shard_collectives : single_rank_collectives();
  }
  init_layers(priors);
  anchor_ = at::empty({0}, at::TensorOptions().dtype(at::kFloat).device(model.device())).requires_grad_(true);
  sinks_.resize(layers_.size());
  grad_sum_2to4_.resize(layers_.size());
  for (std::size_t i = 0; i < layers_.size(); ++i)
    sinks_[i] = [this, i](const at::Tensor& grad) { take_grad_2to4(i, grad); };
  // Which masked layers (indices into projs_) each block holds, and the block of each layer.
  std::map<const Proj*, std::size_t> index;
  for (std::size_t i = 0; i < projs_.size(); ++i) index[projs_[i]] = i;
  block_of_.resize(projs_.size());
  for (std::size_t b = 0; b < model.blocks().size(); ++b) {
    block_layers_.emplace_back();
    for (const Proj* p : model.blocks()[b].projections()) {
      block_layers_.back().push_back(index.at(p));
      block_of_[index.at(p)] = static_cast<std::int64_t>(b);
    }
  }
  block_membership_ = block_membership(block_of_, at::TensorOptions().device(model.device()));
  model.set_fused_kernels(true);  // on CUDA (decoder.h)
  for (Proj* p : projs_) {
    strategies_.push_back(std::make_shared<MaskedLinear>());
    p->set_strategy(strategies_.back());
    weights_.push_back(p->weight());
    weight_norm_total_ += frobenius_norm(p->weight()).item<double>();
  }
}

Trainer::~Trainer() {
  for (Proj* p : projs_) p->set_strategy(nullptr);
  model_.set_fused_kernels(false);
}

void Trainer::init_layers(const MaskPriors& priors) {
  const TrainerOptions& o = options_;
  const double target_density = 1.0 - o.loss.target_sparsity;
  const auto opts = at::TensorOptions().dtype(at::kFloat).device(model_.device());
  for (Proj* p : projs_) {
    LayerLogits l;
    l.name = p->name() + ".weight";
    l.rows = p->out_features();
    l.cols = p->in_features();
    auto prior24 = priors.keep_2to4.find(l.name);
    if (o.mode != MaskMode::tile) {
      l.logits_2to4 = init_logits_2to4(l.rows, l.cols, o.init.init_std, generator_, opts);
      if (prior24 != priors.keep_2to4.end()) {
        l.logits_2to4 = apply_prior_2to4(l.logits_2to4, prior_2to4(prior24->second, l.name), o.init.prior_strength_24);
      }
      // Updated in place by the optimizer from the fused op's backward: no autograd leaf, no .grad.
      l.logits_2to4 = l.logits_2to4.to(o.state_dtype).contiguous();
      // Sharded: this rank keeps its slice of the logits (every rank drew the same whole tensor from the seed).
      shards_.push_back(o.shard_masks ? shard_layout(l.logits_2to4.numel(), o.rank, o.world_size) : ShardLayout{});
      if (o.shard_masks) l.logits_2to4 = take_slice(l.logits_2to4, shards_.back());
      slot_2to4_.push_back(optimizer_->add(l.logits_2to4, shards_.back().offset()));
    } else {
      shards_.emplace_back();
      slot_2to4_.push_back(kNoSlot);
      if (prior24 == priors.keep_2to4.end()) throw Error(str_cat("tile mode needs a 2:4 prior mask for ", l.name));
      prior_2to4(prior24->second, l.name);  // validates the pattern
      // Bytes: read once per pass by the fused op, and a float copy would be 4 bytes per weight of the model.
      l.fixed_2to4 = prior24->second.to(opts.dtype(at::kByte).device(model_.device()));
    }
    if (o.mode != MaskMode::maskllm) {
      l.tile_logits = init_tile_logits(l.name, l.rows, l.cols, o.init.tile, o.init.init_std, generator_, opts);
      auto tile_prior_mask = priors.keep_unstructured.find(l.name);
      if (tile_prior_mask != priors.keep_unstructured.end()) {
        l.tile_logits = apply_tile_prior(l.tile_logits, tile_prior(tile_prior_mask->second, o.init.tile, target_density),
                                         o.init.prior_strength_tile, o.init.init_std);
      }
    }
    layers_.push_back(std::move(l));
  }
  // Every layer's tile logits into one tensor (one leaf, one optimizer slot); the layers keep views of it.
  if (o.mode != MaskMode::maskllm) {
    std::vector<at::Tensor> initial;
    for (const LayerLogits& l : layers_) initial.push_back(l.tile_logits);
    tile_bank_ = TileBank(initial, model_.device());
    slot_tiles_ = optimizer_->add(tile_bank_.logits());
    for (std::size_t i = 0; i < layers_.size(); ++i) layers_[i].tile_logits = tile_bank_.layer(i);
  }
  std::vector<float> totals;
  for (const LayerLogits& l : layers_) totals.push_back(static_cast<float>(l.rows * l.cols));
  layer_totals_ = at::tensor(totals, at::kFloat).to(model_.device());
}

void Trainer::take_grad_2to4(std::size_t i, const at::Tensor& grad) {
  // Earlier micro-batches of the step: keep the running sum (the op's fresh buffer is ours to keep).
  at::Tensor& sum = grad_sum_2to4_[i];
  if (!last_micro_) {
    sum = sum.defined() ? sum.add_(grad) : grad;
    return;
  }
  at::Tensor g = sum.defined() ? sum.add_(grad) : grad;
  sum = at::Tensor();
  if (sharded(i)) {
    g = scatter_mean(g, shards_[i], collectives_);  // the mean over ranks of this rank's slice only
  } else if (options_.all_reduce_mean) {
    std::vector<at::Tensor> one{g};
    options_.all_reduce_mean(one);
    g = one.front();
  }
  optimizer_->update(slot_2to4_[i], g, lr_, step_ + 1);
}

void Trainer::micro_step(const at::Tensor& ids, std::int64_t accumulation, std::uint64_t key, bool last,
                         at::Tensor& step_terms) {
  const TrainerOptions& o = options_;
  last_micro_ = last;
  const SampleParams params = sample_params_at(o.schedule, step_, o.steps);
  // The soft tile choice of every layer (one value per tile, all layers in one pass) and ΣM from it alone.
  const at::Tensor none = at::empty({0}, anchor_.options().requires_grad(false));
  std::vector<at::Tensor> tiles(layers_.size(), none);
  KeptMasks kept{at::Tensor(), layer_totals_};
  if (o.mode == MaskMode::maskllm) {
    kept.kept = layer_totals_ * 0.5;  // every 2:4 group keeps 2 of its 4 weights
  } else {
    TileBank::Sample sample = tile_bank_.sample(key, params.kappat, params.tau);
    tiles = std::move(sample.tiles);
    kept.kept = hybrid_kept_of_sums(sample.sums, tile_bank_.tile_counts(), o.init.tile);
  }

  // Each block forms its projections' W ⊙ M with the fused mask op (under checkpointing again in its backward pass),
  // runs, and returns its output and Σ‖W ⊙ M‖ of its projections. Its inputs besides h — the soft tile choices and
  // the anchor — carry the gradients on to the tile logits; the 2:4 logits' gradients go to take_grad_2to4.
  std::vector<CheckpointedFn> fns;  // must outlive backward()
  fns.reserve(model_.blocks().size());
  std::vector<at::Tensor> norms;
  const BlockRunner run = [&](std::size_t block, const at::Tensor& h, const BlockFn& block_fn) {
    std::vector<at::Tensor> extra;
    for (std::size_t i : block_layers_[block]) extra.push_back(tiles[i]);
    extra.push_back(anchor_);
    fns.emplace_back([this, block, block_fn, params, key](const at::Tensor& x, const std::vector<at::Tensor>& in) {
      const std::vector<std::size_t>& ids_of_block = block_layers_[block];
      at::Tensor norm_sum;
      for (std::size_t k = 0; k < ids_of_block.size(); ++k) {
        const std::size_t i = ids_of_block[k];
        LayerLogits gathered;  // sharded: the layer with its logits gathered for this pass, freed after it
        if (sharded(i)) {
          gathered = layers_[i];
          gathered.logits_2to4 = whole_2to4(i);
        }
        at::Tensor norm;  // ‖W ⊙ M‖, its gradient taken inside the op's backward pass
        const at::Tensor mw = fused_masked_weight(weights_[i], sharded(i) ? gathered : layers_[i], options_.mode, params, options_.init.tile,
                                                  in[k].numel() ? in[k] : at::Tensor(),
                                                  noise_stream(key, i, NoisePart::two_four), &sinks_[i], in.back(), &norm);
        strategies_[i]->masked_weight = mw;
        norm_sum = norm_sum.defined() ? norm_sum + norm : norm;
      }
      at::Tensor y = block_fn(x);
      for (std::size_t i : ids_of_block) strategies_[i]->masked_weight = at::Tensor();
      return std::vector<at::Tensor>{y, norm_sum};
    });
    const bool recompute = o.checkpoint_blocks < 0 || static_cast<std::int64_t>(block) < o.checkpoint_blocks;
    std::vector<at::Tensor> out = recompute ? checkpointed(fns.back(), h, extra) : fns.back()(h, extra);
    norms.push_back(out[1]);
    return out[0];
  };
  const std::int64_t T = ids.size(1);
  const at::Tensor hidden = model_.hidden_states(ids, nullptr, run);
  // Next-token CE over chunks of positions: the [tokens × vocab] logits never exist whole.
  const LogitsFn logits_of = [this](const at::Tensor& h) { return model_.lm_head_logits(h); };
  const at::Tensor ce = chunked_cross_entropy(logits_of, hidden.narrow(1, 0, T - 1).reshape({-1, hidden.size(-1)}),
                                              ids.narrow(1, 1, T - 1).reshape({-1}).to(hidden.device()),
                                              cross_entropy_chunk_rows(model_.config().vocab_size),
                                              model_.config().final_logit_softcapping);
  const double target_density = 1.0 - o.loss.target_sparsity;
  const at::Tensor reg_s = o.loss.per_block_density
                               ? per_block_sparsity_regularizer(kept, block_membership_, target_density)
                               : sparsity_regularizer(kept, target_density);
  const at::Tensor reg_w = weight_regularizer(norms, weight_norm_total_);
  const at::Tensor loss = (ce + o.loss.sparse_reg * reg_s -
                           o.loss.weight_reg * weight_regularizer_decay(step_, o.steps) * reg_w) /
                          static_cast<double>(accumulation);
  step_terms += at::stack({loss.detach().to(at::kDouble) * static_cast<double>(accumulation),
                            ce.detach().to(at::kDouble), density(kept).detach().to(at::kDouble),
                            reg_w.detach().to(at::kDouble)}) /
                static_cast<double>(accumulation);
  // A non-finite loss would poison the logits and every later checkpoint. Where this backward pass updates the 2:4
  // logits (the step's last micro-batch, joint and maskllm) the step's loss so far is checked before it, a wait for
  // the forward pass; otherwise at the step's end, before the tile logits' update (finish_step), the GPU kept busy
  // meanwhile.
  if (last && o.mode != MaskMode::tile) check_loss_is_finite(step_terms[0].item<double>());
  loss.backward();
}

void Trainer::check_loss_is_finite(double loss) const {
  if (std::isfinite(loss)) return;
  throw Error(str_cat("learn: the loss is not finite at step ", step_ + 1, " (", loss,
                      "); nothing of this step was applied",
                      options_.checkpoint_dir.empty() ? std::string() : ", the last checkpoint is kept",
                      " — check --tau-*, --kappa*, --lr"));
}

at::Tensor Trainer::finish_step(at::Tensor sums) {
  const TrainerOptions& o = options_;
  std::vector<at::Tensor> grads;
  if (!tile_bank_.empty()) {
    const at::Tensor& g = tile_bank_.logits().grad();
    grads.push_back(g.defined() ? g : at::zeros_like(tile_bank_.logits()));
  }
  if (o.all_reduce_mean) {
    grads.push_back(sums.to(at::kFloat));
    o.all_reduce_mean(grads);
    sums = grads.back();
  }
  sums = sums.to(at::kCPU, at::kDouble);  // every rank sees the mean loss: all stop together
  check_loss_is_finite(sums[0].item<double>());
  if (!tile_bank_.empty()) {
    optimizer_->update(slot_tiles_, grads.front(), lr_, step_ + 1);
    tile_bank_.logits().mutable_grad() = at::Tensor();
  }
  // A non-finite gradient element was skipped by the update (its logit and moments unchanged); the run stops.
  if (optimizer_->take_non_finite()) {
    throw Error(str_cat("learn: a gradient is not finite at step ", step_ + 1, " (those logits were left unchanged, ",
                        "the step is not saved", o.checkpoint_dir.empty() ? std::string() : "; the last checkpoint is kept",
                        ") — check --tau-*, --kappa*, --lr"));
  }
  return sums;
}

void Trainer::train(const std::vector<std::vector<std::int64_t>>& sequences) {
  const TrainerOptions& o = options_;
  SequenceOrder order(static_cast<std::int64_t>(sequences.size()), o.seed);
  const std::int64_t T = static_cast<std::int64_t>(sequences.front().size());
  const std::int64_t micro_per_step = o.batch / o.micro_batch;  // over all ranks
  const std::int64_t accumulation = micro_per_step / o.world_size;
  Progress bar("learn", o.steps, {"step"});
  bar.set(step_);
  while (step_ < o.steps) {
    const auto t0 = std::chrono::steady_clock::now();
    lr_ = cosine_lr(o.schedule.lr, step_, o.steps, o.schedule.warmup_steps);
    at::Tensor sums = at::zeros({4}, at::TensorOptions().dtype(at::kDouble).device(model_.device()));
    for (std::int64_t g = o.rank; g < micro_per_step; g += o.world_size) {
      at::Tensor ids = at::empty({o.micro_batch, T}, at::kLong);
      for (std::int64_t i = 0; i < o.micro_batch; ++i) {
        const auto& seq = sequences[static_cast<std::size_t>(order.at(step_ * o.batch + g * o.micro_batch + i))];
        std::copy(seq.begin(), seq.end(), ids[i].data_ptr<std::int64_t>());
      }
      const bool last = g + o.world_size >= micro_per_step;
      micro_step(ids.to(model_.device()), accumulation, noise_key(o.seed, step_, g), last, sums);
    }
    sums = finish_step(sums);
    ++step_;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    last_ = {step_, sums[0].item<double>(), sums[1].item<double>(), sums[2].item<double>(), sums[3].item<double>(),
             lr_, static_cast<double>(o.batch * T) / seconds, seconds, sample_params_at(o.schedule, step_ - 1, o.steps)};
    if (o.rank == 0) append_metrics(last_);
    if (o.on_step) o.on_step(last_);
    const bool last_step = step_ == o.steps;
    if (!o.checkpoint_dir.empty() && (o.rank == 0 || o.shard_masks) &&
        (last_step || (o.checkpoint_every > 0 && step_ % o.checkpoint_every == 0))) {
      save_checkpoint(o.checkpoint_dir);
    }
    bar.advance();
  }
  bar.finish();
}

at::Tensor Trainer::whole_2to4(std::size_t i) const {
  const LayerLogits& l = layers_[i];
  if (!sharded(i)) return l.logits_2to4;
  return gather_full(l.logits_2to4, shards_[i], {l.rows * l.cols / 4, 6}, collectives_);
}

std::vector<LayerLogits> Trainer::final_layers() const {
  std::vector<LayerLogits> out = layers_;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (!sharded(i)) continue;
    const at::Tensor whole = whole_2to4(i);
    out[i].logits_2to4 = options_.rank == 0 ? whole : at::Tensor();
  }
  return out;
}

void Trainer::append_metrics(const StepMetrics& m) const {
  if (options_.metrics.empty()) return;
  nlohmann::ordered_json j = {{"step", m.step}, {"loss", m.loss}, {"ce", m.ce}, {"density", m.density},
                              {"sparsity", 1.0 - m.density}, {"weight_term", m.weight_term}, {"tau", m.params.tau},
                              {"kappa24", m.params.kappa24}, {"kappat", m.params.kappat}, {"lr", m.lr},
                              {"tokens_per_s", m.tokens_per_s}, {"seconds", m.seconds}};
  std::ofstream out(options_.metrics, std::ios::app);
  out << j.dump() << "\n";
  if (!out) throw Error(str_cat("cannot append to ", options_.metrics.string()));
}

}  // namespace patchlm
