// Learning checkpoints: one safetensors file, `learn_state.safetensors`, written atomically (a kill leaves the
// previous checkpoint intact). It holds every logit tensor, AdamW's moments, and as metadata the step, the
// optimizer step count and the run's identity. The Gumbel noise of a step is a function of (seed, step,
// micro-batch), so seed and step are the whole RNG state.
#include <ATen/core/grad_mode.h>
#include <cstring>

#include "io/safetensors.h"
#include "learn/trainer.h"
#include "model/checkpoint.h"
#include "util/error.h"

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
  id["prior_strengths"] = str_cat(o.init.prior_strength_24, ",", o.init.prior_strength_tile);
  return id;
}

// Named parameter tensors in a fixed order: "l24:<weight>", "lt:<weight>".
std::vector<std::pair<std::string, at::Tensor>> named_parameters(const std::vector<LayerLogits>& layers) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const LayerLogits& l : layers) {
    if (l.logits_2to4.defined()) out.emplace_back("l24:" + l.name, l.logits_2to4);
    if (l.tile_logits.defined()) out.emplace_back("lt:" + l.name, l.tile_logits);
  }
  return out;
}

// A non-negative integer of the checkpoint's metadata; Error naming the file and field otherwise.
std::int64_t count_field(const std::string& value, const std::string& key, const std::filesystem::path& file) {
  std::size_t used = 0;
  long long v = -1;
  try {
    v = std::stoll(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value.size() || v < 0)
    throw Error(str_cat(file.string(), ": metadata field '", key, "' = ", in_quotes(value), " is not a count (corrupted?)"));
  return v;
}

}  // namespace

void Trainer::save_checkpoint(const std::filesystem::path& dir) const {
  std::filesystem::create_directories(dir);
  std::vector<at::Tensor> keep_alive;
  std::vector<TensorToWrite> tensors;
  auto add = [&](const std::string& name, const at::Tensor& t) {
    keep_alive.push_back(t.detach().to(at::kCPU, at::kFloat).contiguous());
    const at::Tensor& c = keep_alive.back();
    tensors.push_back({name, DType::F32, c.sizes().vec(),
                       std::span<const std::byte>(static_cast<const std::byte*>(c.data_ptr()), c.nbytes())});
  };
  std::int64_t adam_step = 0;
  for (const auto& [name, p] : named_parameters(layers_)) {
    add(name, p);
    auto it = optimizer_->state().find(p.unsafeGetTensorImpl());
    if (it == optimizer_->state().end()) continue;
    const auto& st = static_cast<const torch::optim::AdamWParamState&>(*it->second);
    add("adam_m:" + name, st.exp_avg());
    add("adam_v:" + name, st.exp_avg_sq());
    adam_step = st.step();
  }
  std::map<std::string, std::string> meta = identity(options_);
  meta["format"] = kFormat;
  meta["step"] = str_cat(step_);
  meta["adam_step"] = str_cat(adam_step);
  write_safetensors(dir / kStateFile, tensors, meta);
}

void Trainer::resume(const std::filesystem::path& dir) {
  const std::filesystem::path file = dir / kStateFile;
  if (!std::filesystem::exists(file)) throw Error(str_cat("--resume: no checkpoint at ", file.string()));
  const SafetensorsFile f = SafetensorsFile::open(file);
  const auto& meta = f.header().metadata;
  auto field = [&](const std::string& key) {
    auto it = meta.find(key);
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
  auto load = [&](const std::string& name, const at::Tensor& like) {
    const TensorEntry* e = f.find(name);
    if (!e || e->dtype != DType::F32 || e->shape != like.sizes().vec()) {
      throw Error(str_cat(file.string(), ": tensor '", name, "' is missing or has the wrong shape"));
    }
    return tensor_view(f, *e).to(like.device()).clone();
  };
  const std::int64_t adam_step = count_field(field("adam_step"), "adam_step", file);
  const std::int64_t step = count_field(field("step"), "step", file);
  if (step > options_.steps)
    throw Error(str_cat(file.string(), ": the checkpoint is at step ", step, ", past --steps ", options_.steps));
  at::NoGradGuard no_grad;
  for (const auto& [name, p] : named_parameters(layers_)) {
    p.copy_(load(name, p));
    if (adam_step == 0) continue;
    auto st = std::make_unique<torch::optim::AdamWParamState>();
    st->step(adam_step);
    st->exp_avg(load("adam_m:" + name, p));
    st->exp_avg_sq(load("adam_v:" + name, p));
    optimizer_->state()[p.unsafeGetTensorImpl()] = std::move(st);
  }
  step_ = step;
}

}  // namespace patchlm
