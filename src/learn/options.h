#pragma once
// Every hyper-parameter of PATCH mask learning with the reference implementation's defaults (../shared/PATCH.md):
// the one source of truth, shared by `patchlm learn`, the trainer and the tests.
#include <cstdint>
#include <string>

#include "io/tiles.h"

namespace patchlm {

enum class MaskMode { maskllm, tile, joint };
MaskMode parse_mask_mode(const std::string& name);  // UsageError naming --mode
const char* mode_name(MaskMode mode);

struct MaskInit {
  double init_std = 0.014;            // N(0, init_std) for every logit
  double prior_strength_24 = 3.0;     // L24 = p · std(L24) · strength
  double prior_strength_tile = 3.0;   // Lt += prior · std(Lt) · strength
  TileShape tile{128, 128};
};

struct LearnSchedule {
  double tau_start = 4.0, tau_end = 0.05;          // Gumbel temperature (both mask kinds)
  double kappa24_start = 100, kappa24_end = 500;   // logit scaler of the 2:4 choice
  double kappat_start = 25, kappat_end = 350;      // logit scaler of the tile choice
  double lr = 1e-3;
  std::int64_t warmup_steps = 5;                   // then cosine to 0
};

struct LearnLoss {
  double target_sparsity = 0.35;
  double sparse_reg = 7.0;   // λs · |density − target density|
  double weight_reg = 10.0;  // λw · (1 − step/steps) · Σ‖M⊙W‖ / Σ‖W‖
  bool per_block_density = false;  // mean over blocks of |density_b − target| instead of the global density
};

// The reference's run: 2000 steps of 128 sequences of 4096 tokens.
struct LearnRun {
  std::int64_t steps = 2000;
  std::int64_t batch = 128;  // sequences per optimizer step
  std::int64_t micro_batch = 1;
  std::int64_t seq_len = 4096;
};

struct LearnOptimizer {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double weight_decay = -1;  // < 0: the mode's default (0.1 for maskllm, 0 otherwise)
  double effective_weight_decay(MaskMode mode) const { return weight_decay >= 0 ? weight_decay : mode == MaskMode::maskllm ? 0.1 : 0.0; }
};

}  // namespace patchlm
