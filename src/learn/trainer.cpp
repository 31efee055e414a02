#include "learn/trainer.h"

#include <chrono>
#include <cmath>
#include <fstream>

#include "learn/activation_checkpoint.h"
#include "learn/chunked_cross_entropy.h"
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
namespace {

bool all_finite(const std::vector<at::Tensor>& params) {
  for (const at::Tensor& p : params)
    if (p.grad().defined() && !at::isfinite(p.grad()).all().item<bool>()) return false;
  return true;
}

}  // namespace

void validate(const TrainerOptions& o) {
  if (o.steps < 1) throw UsageError(str_cat("--steps: must be positive, got ", o.steps));
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
  generator_ = at::globalContext().defaultGenerator(model.device()).clone();
  generator_.set_current_seed(o.seed);
  init_layers(priors);
  torch::optim::AdamWOptions adam(o.schedule.lr);
  adam.betas({o.optimizer.beta1, o.optimizer.beta2}).eps(o.optimizer.eps).weight_decay(o.optimizer.effective_weight_decay(o.mode));
  optimizer_ = std::make_unique<torch::optim::AdamW>(parameters(), adam);
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
  for (Proj* p : projs_) {
    strategies_.push_back(std::make_shared<MaskedLinear>());
    p->set_strategy(strategies_.back());
    weights_.push_back(p->weight());
    weight_norm_total_ += p->weight().to(at::kFloat).norm().item<double>();
  }
}

Trainer::~Trainer() {
  for (Proj* p : projs_) p->set_strategy(nullptr);
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
      l.logits_2to4.requires_grad_(true);
    } else {
      if (prior24 == priors.keep_2to4.end()) throw Error(str_cat("tile mode needs a 2:4 prior mask for ", l.name));
      prior_2to4(prior24->second, l.name);  // validates the pattern
      l.fixed_2to4 = prior24->second.to(opts.dtype(at::kFloat).device(model_.device()));
    }
    if (o.mode != MaskMode::maskllm) {
      l.tile_logits = init_tile_logits(l.name, l.rows, l.cols, o.init.tile, o.init.init_std, generator_, opts);
      auto tile_prior_mask = priors.keep_unstructured.find(l.name);
      if (tile_prior_mask != priors.keep_unstructured.end()) {
        l.tile_logits = apply_tile_prior(l.tile_logits, tile_prior(tile_prior_mask->second, o.init.tile, target_density),
                                         o.init.prior_strength_tile, o.init.init_std);
      }
      l.tile_logits.requires_grad_(true);
    }
    layers_.push_back(std::move(l));
  }
}

std::vector<at::Tensor> Trainer::parameters() const {
  std::vector<at::Tensor> params;
  for (const LayerLogits& l : layers_) {
    if (l.logits_2to4.defined()) params.push_back(l.logits_2to4);
    if (l.tile_logits.defined()) params.push_back(l.tile_logits);
  }
  return params;
}

std::vector<double> Trainer::micro_step(const at::Tensor& ids, std::int64_t accumulation, std::uint64_t key) {
  const TrainerOptions& o = options_;
  const SampleParams params = sample_params_at(o.schedule, step_, o.steps);
  // Every layer's W ⊙ M through the fused mask op (its noise drawn from the counter streams of `key`), and ΣM from
  // the soft tile choice: the soft masks themselves are never materialised.
  std::vector<at::Tensor> masked;
  std::vector<LayerKept> kept;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const LayerLogits& l = layers_[i];
    at::Tensor tiles;
    if (o.mode != MaskMode::maskllm) {
      const at::Tensor noise = counter_gumbel_noise(noise_stream(key, i, NoisePart::tiles),
                                                    {l.tile_logits.size(0), l.tile_logits.size(1), 2},
                                                    l.tile_logits.options());
      tiles = soft_tiles(l.tile_logits, noise, params.kappat, params.tau);
    }
    masked.push_back(fused_masked_weight(weights_[i], l, o.mode, params, o.init.tile, tiles,
                                         noise_stream(key, i, NoisePart::two_four)));
    kept.push_back({hybrid_kept(tiles, o.mode, l.rows, l.cols, o.init.tile), static_cast<double>(l.rows * l.cols)});
  }

  const std::int64_t T = ids.size(1);
  // Each block runs with its projections' masked weights as explicit inputs, so a checkpointed block's recomputation
  // in the backward pass sees them again and hands their gradients on to the fused mask op and the logits.
  std::vector<CheckpointedFn> fns;  // must outlive backward()
  fns.reserve(model_.blocks().size());
  const BlockRunner run = [&](std::size_t layer, const at::Tensor& h, const BlockFn& block) {
    std::vector<at::Tensor> block_weights;
    for (std::size_t l : block_layers_[layer]) block_weights.push_back(masked[l]);
    fns.emplace_back([this, layer, block](const at::Tensor& x, const std::vector<at::Tensor>& ws) {
      for (std::size_t i = 0; i < ws.size(); ++i) strategies_[block_layers_[layer][i]]->masked_weight = ws[i];
      return block(x);
    });
    return o.activation_checkpointing ? checkpointed(fns.back(), h, block_weights) : fns.back()(h, block_weights);
  };
  const at::Tensor hidden = model_.hidden_states(ids, nullptr, run);
  // Next-token CE over chunks of positions: the [tokens × vocab] logits never exist whole.
  const LogitsFn logits_of = [this](const at::Tensor& h) { return model_.logits_from_hidden(h); };
  const at::Tensor ce = chunked_cross_entropy(logits_of, hidden.narrow(1, 0, T - 1).reshape({-1, hidden.size(-1)}),
                                              ids.narrow(1, 1, T - 1).reshape({-1}).to(hidden.device()),
                                              cross_entropy_chunk_rows(model_.config().vocab_size));
  const double target_density = 1.0 - o.loss.target_sparsity;
  const at::Tensor reg_s = o.loss.per_block_density ? per_block_sparsity_regularizer(kept, block_of_, target_density)
                                                    : sparsity_regularizer(kept, target_density);
  const at::Tensor reg_w = weight_regularizer(masked, weight_norm_total_);
  const at::Tensor loss = (ce + o.loss.sparse_reg * reg_s -
                           o.loss.weight_reg * weight_regularizer_decay(step_, o.steps) * reg_w) /
                          static_cast<double>(accumulation);
  loss.backward();
  for (auto& s : strategies_) s->masked_weight = at::Tensor();
  return {loss.item<double>() * static_cast<double>(accumulation), ce.item<double>(), density(kept).item<double>(),
          reg_w.item<double>()};
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
    const double lr = cosine_lr(o.schedule.lr, step_, o.steps, o.schedule.warmup_steps);
    for (auto& group : optimizer_->param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    optimizer_->zero_grad();
    at::Tensor sums = at::zeros({4}, at::kDouble);
    for (std::int64_t g = o.rank; g < micro_per_step; g += o.world_size) {
      at::Tensor ids = at::empty({o.micro_batch, T}, at::kLong);
      for (std::int64_t i = 0; i < o.micro_batch; ++i) {
        const auto& seq = sequences[static_cast<std::size_t>(order.at(step_ * o.batch + g * o.micro_batch + i))];
        std::copy(seq.begin(), seq.end(), ids[i].data_ptr<std::int64_t>());
      }
      const std::vector<double> parts = micro_step(ids.to(model_.device()), accumulation, noise_key(o.seed, step_, g));
      for (int k = 0; k < 4; ++k) sums[k] += parts[static_cast<std::size_t>(k)] / static_cast<double>(accumulation);
    }
    // A non-finite loss or gradient would poison the logits and every later checkpoint: stop before the update.
    if (!std::isfinite(sums[0].item<double>()) || !all_finite(parameters())) {
      throw Error(str_cat("learn: the loss or a gradient is not finite at step ", step_ + 1, " (loss ", sums[0].item<double>(),
                          "); nothing of this step was applied",
                          o.checkpoint_dir.empty() ? std::string() : ", the last checkpoint is kept",
                          " — check --tau-*, --kappa*, --lr"));
    }
    if (o.all_reduce_mean) {
      std::vector<at::Tensor> grads;
      for (const at::Tensor& p : parameters()) grads.push_back(p.grad());
      grads.push_back(sums.to(at::kFloat).to(model_.device()));
      o.all_reduce_mean(grads);
      sums = grads.back().to(at::kCPU, at::kDouble);
    }
    optimizer_->step();
    ++step_;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    last_ = {step_, sums[0].item<double>(), sums[1].item<double>(), sums[2].item<double>(), sums[3].item<double>(),
             lr, static_cast<double>(o.batch * T) / seconds, seconds, sample_params_at(o.schedule, step_ - 1, o.steps)};
    if (o.rank == 0) append_metrics(last_);
    if (o.on_step) o.on_step(last_);
    const bool last_step = step_ == o.steps;
    if (!o.checkpoint_dir.empty() && o.rank == 0 &&
        (last_step || (o.checkpoint_every > 0 && step_ % o.checkpoint_every == 0))) {
      save_checkpoint(o.checkpoint_dir);
    }
    bar.advance();
  }
  bar.finish();
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
