// Learning checkpoints: one safetensors file, `learn_state.safetensors`, written atomically by rank 0 (a kill leaves
// the previous checkpoint intact). Sharded state is gathered whole before it is written and sliced again on resume,
// so one file serves any world size, sharded or not. It holds every logit tensor and AdamW's moments in their training dtype (F32, or BF16
// with --state-dtype bf16), and as metadata the step, the optimizer step count and the run's identity. The Gumbel
// noise of a step and the stochastic rounding are functions of (seed, step, ...), so seed and step are the whole RNG
// state.
#include <ATen/core/grad_mode.h>
#include <cstring>

#include "io/safetensors.h"
#include "learn/trainer.h"
#include "model/checkpoint.h"
#include "util/error.h"
#include "util/integer_text.h"

namespace patchlm {
namespace {

constexpr const char* kStateFile = "learn_state.safetensors";
constexpr const char* kFormat = "patchlm-learn-state/1";

std::map<std::string, std::string> identity(const TrainerOptions& o) {
  std::map<std::string, std::string> id = o.run_identity;
  id["mode"] = mode_name(o.mode);
  id["steps"] = str_cat(o.steps);
  id["batch"] = str_cat(o.batch);
  id["micro_batch"] = str_cat(o.micro_batch);
  id["seed"] = str_cat(o.seed);
  id["target_sparsity"] = str_cat(o.loss.target_sparsity);
  id["tile"] = o.init.tile.name();
  // Everything else that shapes the steps to come: a resumed run with another value would not be the same run.
  id["lr"] = str_cat(o.schedule.lr);
  id["warmup"] = str_cat(o.schedule.warmup_steps);
  id["tau"] = str_cat(o.schedule.tau_start, "..", o.schedule.tau_end);
  id["kappa24"] = str_cat(o.schedule.kappa24_start, "..", o.schedule.kappa24_end);
  id["kappat"] = str_cat(o.schedule.kappat_start, "..", o.schedule.kappat_end);
  id["sparse_reg"] = str_cat(o.loss.sparse_reg);
  id["weight_reg"] = str_cat(o.loss.weight_reg);
  id["density_scope"] = o.loss.per_block_density ? "block" : "global";
  id["betas"] = str_cat(o.optimizer.beta1, ",", o.optimizer.beta2);
  id["eps"] = str_cat(o.optimizer.eps);
  id["weight_decay"] = str_cat(o.optimizer.effective_weight_decay(o.mode));
  id["init_std"] = str_cat(o.init.init_std);
  id["state_dtype"] = state_dtype_name(o.state_dtype);
  id["prior_strengths"] = str_cat(o.init.prior_strength_24, ",", o.init.prior_strength_tile);
  return id;
}

// The state tensors in a fixed order, "l24:<weight>", "lt:<weight>", each with where its AdamW moments live — an
// optimizer slot of its own (2:4 logits) or its stretch of the tile bank's slot (tile logits) — its whole shape and,
// for sharded 2:4 logits, its slices (else null).
struct StateTensor {
  std::string name;
  at::Tensor param;
  std::vector<std::int64_t> shape;
  const ShardLayout* shard;
  std::size_t slot;
  std::int64_t offset = -1;  // of its first element in the slot (tile logits), -1: the slot is its own
};
std::vector<StateTensor> state_tensors(const std::vector<LayerLogits>& layers, const std::vector<ShardLayout>& shards,
                                       bool sharded, const std::vector<std::size_t>& slot_2to4, std::size_t slot_tiles,
                                       const TileBank& tiles) {
  std::vector<StateTensor> out;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const LayerLogits& l = layers[i];
    if (l.logits_2to4.defined())
      out.push_back({"l24:" + l.name, l.logits_2to4, {l.rows * l.cols / 4, 6}, sharded ? &shards[i] : nullptr,
                     slot_2to4.at(i)});
    if (l.tile_logits.defined())
      out.push_back({"lt:" + l.name, l.tile_logits, l.tile_logits.sizes().vec(), nullptr, slot_tiles, tiles.offset(i)});
  }
  return out;
}

// The part of a slot's moment tensor that belongs to `e` (a view: writes reach the optimizer's state).
at::Tensor moment_of(const at::Tensor& moments, const StateTensor& e) {
  if (e.offset < 0) return moments;
  at::NoGradGuard no_history;
  return moments.narrow(0, e.offset, e.param.numel()).view(e.param.sizes());
}

// A non-negative integer of the checkpoint's metadata; Error naming the file and field otherwise.
std::int64_t count_field(const std::string& value, const std::string& key, const std::filesystem::path& file) {
  const std::optional<long long> v = parse_integer(value);
  if (!v || *v < 0)
    throw Error(str_cat(file.string(), ": metadata field '", key, "' = ", in_quotes(value), " is not a count (corrupted?)"));
  return *v;
}

}  // namespace

void Trainer::save_checkpoint(const std::filesystem::path& dir) const {
  const bool writer = options_.rank == 0;
  if (writer) std::filesystem::create_directories(dir);
  std::vector<at::Tensor> keep_alive;
  std::vector<TensorToWrite> tensors;
  auto add = [&](const std::string& name, const at::Tensor& t) {
    if (!writer) return;
    const bool bf16 = t.scalar_type() == at::kBFloat16;
    keep_alive.push_back(t.detach().to(at::kCPU, bf16 ? at::kBFloat16 : at::kFloat).contiguous());
    const at::Tensor& c = keep_alive.back();
    tensors.push_back({name, bf16 ? DType::BF16 : DType::F32, c.sizes().vec(),
                       std::span<const std::byte>(static_cast<const std::byte*>(c.data_ptr()), c.nbytes())});
  };
  for (const StateTensor& e :
       state_tensors(layers_, shards_, options_.shard_masks, slot_2to4_, slot_tiles_, tile_bank_)) {
    // Sharded 2:4 state is gathered whole (every rank takes part), so the file is the unsharded one.
    auto whole = [&](const at::Tensor& t) { return e.shard ? gather_full(t, *e.shard, e.shape, collectives_) : t; };
    add(e.name, whole(e.param));
    if (step_ > 0) {
      add("adam_m:" + e.name, whole(moment_of(optimizer_->exp_avg(e.slot), e)));
      add("adam_v:" + e.name, whole(moment_of(optimizer_->exp_avg_sq(e.slot), e)));
    }
  }
  if (!writer) return;
  std::map<std::string, std::string> meta = identity(options_);
  meta["format"] = kFormat;
  meta["step"] = str_cat(step_);
  meta["adam_step"] = str_cat(step_);
  write_safetensors(dir / kStateFile, tensors, meta);
}

void Trainer::resume(const std::filesystem::path& dir) {
  const std::filesystem::path file = dir / kStateFile;
  if (!std::filesystem::exists(file)) throw Error(str_cat("--resume: no checkpoint at ", file.string()));
  const SafetensorsFile f = SafetensorsFile::open(file);
  const auto& meta = f.header().metadata;
  auto field = [&](const std::string& key) {
    auto it = meta.find(key);
    // Checkpoints from before --state-dtype were fp32.
    if (it == meta.end() && key == "state_dtype") return std::string("fp32");
    if (it == meta.end()) throw Error(str_cat(file.string(), ": metadata field '", key, "' is missing"));
    return it->second;
  };
  if (field("format") != kFormat) throw Error(str_cat(file.string(), ": not a patchlm learning checkpoint"));
  for (const auto& [key, value] : identity(options_)) {
    if (field(key) != value) {
      throw Error(str_cat(file.string(), ": was written with ", key, " = ", in_quotes(field(key)), ", this run has ",
                          in_quotes(value), " (resume with the same settings)"));
    }
  }
  // The whole tensor from the file; this rank's slice of it where the state is sharded.
  auto load = [&](const std::string& name, const at::Tensor& like, const StateTensor& of) {
    const TensorEntry* e = f.find(name);
    const DType want = like.scalar_type() == at::kBFloat16 ? DType::BF16 : DType::F32;
    if (!e || e->dtype != want || e->shape != of.shape) {
      throw Error(str_cat(file.string(), ": tensor '", name, "' is missing or has the wrong dtype or shape"));
    }
    const at::Tensor whole = tensor_view(f, *e);
    return of.shard ? take_slice(whole, *of.shard) : whole;
  };
  const std::int64_t adam_step = count_field(field("adam_step"), "adam_step", file);
  const std::int64_t step = count_field(field("step"), "step", file);
  if (step > options_.steps)
    throw Error(str_cat(file.string(), ": the checkpoint is at step ", step, ", past --steps ", options_.steps));
  if (adam_step != step)
    throw Error(str_cat(file.string(), ": adam_step ", adam_step, " differs from step ", step, " (corrupted?)"));
  at::NoGradGuard no_grad;
  for (const StateTensor& e :
       state_tensors(layers_, shards_, options_.shard_masks, slot_2to4_, slot_tiles_, tile_bank_)) {
    at::Tensor p = e.param;
    p.copy_(load(e.name, p, e));
    if (step > 0) {
      at::Tensor m = moment_of(optimizer_->exp_avg(e.slot), e), v = moment_of(optimizer_->exp_avg_sq(e.slot), e);
      m.copy_(load("adam_m:" + e.name, m, e));
      v.copy_(load("adam_v:" + e.name, v, e));
    }
  }
  step_ = step;
}

}  // namespace patchlm
