#pragma once
// Sequential calibration (SparseGPT / Wanda protocol): calibration sequences run through the decoder one block at
// a time. For each block, observers on the Linear seam collect every projection's input statistics, the block is
// pruned from them, and its outputs are recomputed with the pruned weights to become the next block's inputs.
// Memory: the hidden states of all calibration sequences at one block boundary, plus one block's statistics.
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <ATen/ATen.h>

#include "model/decoder.h"

namespace patchlm {

// What one projection saw: Σ over tokens of x² per input column (Wanda) and, when asked, Σ xᵀx (SparseGPT).
struct InputStats {
  std::int64_t tokens = 0;
  at::Tensor sum_sq;   // [in] float32
  at::Tensor gram;     // [in, in] float32, undefined unless collected

  void add(const at::Tensor& x);  // x [..., in]
  // SparseGPT's H = 2/n · Σ xᵀx.
  at::Tensor hessian() const;
};

// Projections that read the same input share one statistics object: (q, k, v), (o), (gate, up), (down).
struct ObservedGroup {
  std::vector<Proj*> members;
  std::shared_ptr<InputStats> stats;
};

// Installs observers on block `layer` (collecting Gram matrices when `gram`), returns its groups.
std::vector<ObservedGroup> observe_block(Decoder& model, std::size_t layer, bool gram);
void stop_observing(const std::vector<ObservedGroup>& groups);

struct CalibrationOptions {
  std::int64_t batch = 1;  // sequences per forward pass
  bool gram = false;       // collect Σ xᵀx (SparseGPT)
};

// Prunes one block from its statistics; replaces the weights of its projections (Proj::set_weight).
using BlockPruner = std::function<void(std::size_t layer, const std::vector<ObservedGroup>& groups)>;

// Token sequences of equal length (data/sampling) as the int64 tensor [N, T] the protocol takes.
at::Tensor token_tensor(const std::vector<std::vector<std::int64_t>>& sequences);

// ids [N, T] int64. Runs the sequential protocol over all blocks, calling `prune` once per block, in order.
void calibrate_sequentially(Decoder& model, const at::Tensor& ids, const CalibrationOptions& options,
                            const BlockPruner& prune);

}  // namespace patchlm
