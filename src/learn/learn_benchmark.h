#pragma once
// `patchlm bench learn`: the speed and memory of PATCH mask learning on a model shape with random weights — tokens/s,
// peak memory and MFU (6 · params · tokens/s ÷ peak FLOP/s) per micro-batch size, activation checkpointing on —
// and, in the same run, the reference approach (bench/learn_reference.py: a frozen transformers model whose masks
// are rebuilt from bf16 logits in forward pre-hooks) on the same shape, when the python has torch + transformers.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "learn/options.h"

namespace patchlm {

struct LearnBenchOptions {
  MaskMode mode = MaskMode::joint;
  std::string shape = "llama-3.2-1b";  // llama-3.2-1b | llama-2-7b | llama-3.1-8b | smollm2-135m
  std::string device;                  // cuda when a GPU is present, else cpu
  std::int64_t seq = 4096;
  std::vector<std::int64_t> micros{1};
  std::int64_t steps = 3;              // timed steps (one more warms up)
  std::int64_t checkpoint_blocks = -1;  // blocks under activation checkpointing (-1: all, as the reference)
  std::string state_dtype = "bf16";    // 2:4 logits + AdamW moments (the reference keeps fp32 master logits)
  double peak_tflops = 989;            // for MFU (H100/H200 dense bf16)
  bool baseline = true;
  std::string python = "python3";
  std::string baseline_script;         // bench/learn_reference.py (found in the source tree if empty)
  std::string profile;                 // Chrome trace of one extra step (".micro<N>" added for several sizes)
  // Launched by torchrun / `patchlm launch`: every rank runs the micro-batch size, the step's batch is micro × ranks
  // (tokens/s counts all ranks; peak memory is rank 0's GPU); the reference (one process) is not run.
  bool shard_masks = false;  // --shard-masks (mask_shards.h)
  double dist_timeout_s = 600;
};

// UsageError naming the option for an unknown shape, a device that is not here, non-positive lengths or steps.
void validate_learn_bench(const LearnBenchOptions& options);

// Prints a table row per micro-batch size (rank 0); returns the rows (rank 0; other ranks: none) (gpu/device, shape, mode, seq, micro-batch, tokens/s,
// s/step, peak GiB, MFU, and the reference's figures and our speedup / memory ratio where it ran).
nlohmann::ordered_json run_learn_benchmark(const LearnBenchOptions& options);

}  // namespace patchlm
