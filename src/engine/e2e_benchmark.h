#pragma once
// `patchlm bench e2e`: whole-model generation speed on the engine — prefill tokens/s and decode tokens/s at each batch
// size and prompt length (prompt 512, 256 new tokens by default) for LLaMA-2-7B / LLaMA-3.1-8B shaped models with
// random bf16 weights, dense and hybrid at each σ (PATCH-like tile patterns: a share 2σ of the 128×128 tiles 2:4), and
// for real models given by path. The same run times transformers' generate on the dense model of each shape (bf16,
// sdpa, static cache; bench/e2e_transformers.py, when python3 has torch and transformers) as the baseline users know.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "kernels/prefill_cost.h"

namespace patchlm {

struct E2eBenchOptions {
  std::vector<std::string> shapes{"llama-2-7b", "llama-3.1-8b"};  // random-weight shapes ("none" for only --models)
  std::vector<std::string> models;                                // real models (HF dir, GGUF, hybrid checkpoint)
  std::vector<int> sparsities{0, 25, 35, 45, 50};                 // σ in %, for the random shapes
  std::vector<int> batches{1, 16};
  std::vector<std::int64_t> prompts{512};  // prompt tokens per sequence: each length is a case of each model
  std::int64_t new_tokens = 256;
  bool baseline = true;            // time transformers too
  std::string python = "python3";  // for the baseline
  std::string baseline_script;     // bench/e2e_transformers.py (found next to the binary's source tree if empty)
  bool dependent_launch = true;    // the GEMM kernels as dependent launches (kernels/dependent_launch.h)
  // Where the wgmma kernel's rule may take the cluster split: "graphs" (the engine's decode and short one-prompt
  // prefill passes; the default), "always" (its eager passes too) or "never" (kernels/prefill_cost.h ClusterSplitUse).
  std::string cluster_split = kernels::cluster_split_use_name(kernels::kClusterSplitUse);
  bool x_multicast = true;  // whether the wgmma kernel's rule may take the x-multicast split (false: for A/Bs)
  bool multicast_stream_k = true;  // and split that split's last wave by stream-K (false: for A/Bs)
  std::int64_t graph_prefill_tokens = EngineOptions{}.graph_prefill_tokens;  // EngineOptions::graph_prefill_tokens
  // Time every model this many rounds, the models in every other round in reverse order (each built afresh per round),
  // and report each figure's median round; a hybrid model's ratios to its dense model are the median of the rounds'
  // ratios, each of two models timed in the same round — for model-level A/Bs of a few percent.
  int rounds = 1;
};

inline constexpr int kMaxE2eRounds = 20;

// UsageError naming the option for unknown shapes, sparsities outside 0..50, batches < 1, lengths < 1, an unknown
// --cluster-split, a negative --graph-prefill-tokens, --rounds outside 1..20.
void validate_e2e_bench(const E2eBenchOptions& options);

// Runs every case on cuda:0 (random shapes need CUDA; real models run on CUDA when present, else the CPU), printing a
// table row per case; returns every row (gpu, model, sparsity, batch, prompt/new tokens, prefill and decode tokens/s,
// ms per decode step, peak GiB, a hybrid model's prefill and decode against its dense model's (σ = 0, same batch and
// prompt), and the baseline's figures and speedups where measured).
nlohmann::ordered_json run_e2e_benchmark(const E2eBenchOptions& options);

}  // namespace patchlm
