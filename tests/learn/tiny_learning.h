#pragma once
// The small learning run of the data-parallel tests (test_data_parallel.cpp, learn_rank_worker.cpp): a random
// 3-layer LLaMA, 8 sequences of 12 tokens, 16×16 tiles, a learning rate that moves the logits in a few steps.
#include <cstdint>
#include <vector>

#include "../engine/tiny_models.h"
#include "learn/trainer.h"

namespace patchlm::testing {

inline Checkpoint tiny_learning_model() { return tiny_checkpoint(Family::llama, 3, 8, 32, 48); }

inline TrainerOptions tiny_learning_options(MaskMode mode, std::int64_t steps) {
  TrainerOptions t;
  t.mode = mode;
  t.steps = steps;
  t.batch = 4;
  t.micro_batch = 1;
  t.seed = 5;
  t.init.tile = {16, 16};
  t.schedule.lr = 0.05;
  if (mode == MaskMode::maskllm) t.loss.target_sparsity = 0.5;  // 2:4 masks: 50 %
  return t;
}

inline std::vector<std::vector<std::int64_t>> tiny_learning_sequences() {
  std::vector<std::vector<std::int64_t>> out;
  for (int s = 0; s < 8; ++s) {
    out.emplace_back();
    for (int t = 0; t < 12; ++t) out.back().push_back((s * 31 + t * 7) % 96);
  }
  return out;
}

}  // namespace patchlm::testing
