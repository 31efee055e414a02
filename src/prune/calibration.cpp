#include "prune/calibration.h"

#include <c10/core/InferenceMode.h>

#include "util/error.h"
#include "util/progress.h"

namespace patchlm {
namespace {

// Records the input, then computes the ordinary dense projection.
class ObserveInputs : public ProjStrategy {
 public:
  explicit ObserveInputs(std::shared_ptr<InputStats> stats) : stats_(std::move(stats)) {}
  at::Tensor forward(const Proj& proj, const at::Tensor& x) override {
    stats_->add(x);
    return proj.dense_forward(x);
  }

 private:
  std::shared_ptr<InputStats> stats_;
};

}  // namespace

void InputStats::add(const at::Tensor& x) {
  at::Tensor rows = x.reshape({-1, x.size(-1)}).to(at::kFloat);
  if (!sum_sq.defined()) sum_sq = at::zeros({rows.size(1)}, rows.options());
  sum_sq.add_(rows.square().sum(0));
  if (gram.defined()) gram.addmm_(rows.t(), rows);
  tokens += rows.size(0);
}

at::Tensor InputStats::hessian() const {
  if (!gram.defined() || tokens == 0) throw Error("no calibration statistics were collected");
  return gram * (2.0 / static_cast<double>(tokens));
}

std::vector<ObservedGroup> observe_block(Decoder& model, std::size_t layer, bool gram) {
  Block& b = model.blocks().at(layer);
  std::vector<ObservedGroup> groups = {{{&b.q, &b.k, &b.v}, nullptr}, {{&b.o}, nullptr},
                                       {{&b.gate, &b.up}, nullptr}, {{&b.down}, nullptr}};
  for (ObservedGroup& g : groups) {
    g.stats = std::make_shared<InputStats>();
    const Proj& first = *g.members.front();
    if (gram) {
      g.stats->gram = at::zeros({first.in_features(), first.in_features()},
                                at::TensorOptions().dtype(at::kFloat).device(first.weight().device()));
    }
    // One observer per group: its members read the very same tensor.
    g.members.front()->set_strategy(std::make_shared<ObserveInputs>(g.stats));
  }
  return groups;
}

void stop_observing(const std::vector<ObservedGroup>& groups) {
  for (const ObservedGroup& g : groups) g.members.front()->set_strategy(nullptr);
}

at::Tensor token_tensor(const std::vector<std::vector<std::int64_t>>& sequences) {
  if (sequences.empty()) throw Error("no token sequences");
  const auto n = static_cast<std::int64_t>(sequences.size()), T = static_cast<std::int64_t>(sequences.front().size());
  at::Tensor ids = at::empty({n, T}, at::kLong);
  for (std::int64_t i = 0; i < n; ++i) {
    const auto& s = sequences[static_cast<std::size_t>(i)];
    if (static_cast<std::int64_t>(s.size()) != T) throw Error("token sequences differ in length");
    std::copy(s.begin(), s.end(), ids[i].data_ptr<std::int64_t>());
  }
  return ids;
}

void calibrate_sequentially(Decoder& model, const at::Tensor& ids, const CalibrationOptions& o,
                            const BlockPruner& prune) {
  if (o.batch < 1) throw UsageError(str_cat("--calib-batch: must be positive, got ", o.batch));
  c10::InferenceMode inference;
  const std::int64_t n = ids.size(0), T = ids.size(1);
  std::vector<at::Tensor> hidden;  // one [b, T, hidden] per micro-batch, at the current block boundary
  for (std::int64_t s = 0; s < n; s += o.batch) {
    hidden.push_back(model.embed(ids.slice(0, s, std::min(n, s + o.batch)).to(model.device())));
  }
  const Positions pos = model.positions(0, T);
  const std::size_t blocks = model.blocks().size();
  Progress bar("prune", static_cast<std::int64_t>(blocks), {"block"});
  for (std::size_t layer = 0; layer < blocks; ++layer) {
    std::vector<ObservedGroup> groups = observe_block(model, layer, o.gram);
    try {
      for (const at::Tensor& h : hidden) model.block_forward(layer, h, pos, nullptr);
    } catch (...) {
      stop_observing(groups);
      throw;
    }
    stop_observing(groups);
    prune(layer, groups);
    groups.clear();  // free the statistics before the outputs are recomputed
    for (at::Tensor& h : hidden) h = model.block_forward(layer, h, pos, nullptr);
    bar.advance();
  }
  bar.finish();
}

}  // namespace patchlm
