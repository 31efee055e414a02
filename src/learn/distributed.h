#pragma once
// Data-parallel PATCH learning over c10d, launched the way torchrun launches (RANK, WORLD_SIZE, LOCAL_RANK,
// MASTER_ADDR, MASTER_PORT): each rank runs every micro-batch k with k % WORLD_SIZE == RANK of a step (the k-th
// sequence and its Gumbel noise are functions of (data, seed, step, k), so ranks need no other coordination), and
// the trainer averages gradients over ranks through TrainerOptions::all_reduce_mean — each layer's 2:4-logit
// gradient as soon as its backward of the step is complete, then the tile logits' gradients and the loss terms.
// The engine is c10d's ProcessGroupNCCL with a TCPStore rendezvous (CUDA builds); the wheel ships no Gloo headers,
// so CPU learning is one process — tests drive the same hook through a test-only c10d::Backend (tests/learn).
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/Backend.hpp>

namespace patchlm {

struct DistributedEnv {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr;
  int master_port = 29500;
  bool launched = false;     // WORLD_SIZE was set (by torchrun or by hand)
  bool agent_store = false;  // torchrun's agent hosts the TCPStore (TORCHELASTIC_USE_AGENT_STORE=True): every rank is a client
};

// The launch environment, checked: UsageError naming the variable for a non-number, RANK ≥ WORLD_SIZE, a missing
// RANK or MASTER_ADDR when WORLD_SIZE > 1, a port outside 1..65535. Without WORLD_SIZE: one process.
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;
DistributedEnv distributed_env(const EnvLookup& lookup);
DistributedEnv distributed_env();  // from the process environment

// TrainerOptions::all_reduce_mean over `backend`: the tensors (same dtype and device) are summed in one collective
// (flattened into one buffer when there are several) and divided by the world size, in place.
std::function<void(std::vector<at::Tensor>&)> all_reduce_mean_over(c10::intrusive_ptr<c10d::Backend> backend,
                                                                   std::chrono::milliseconds timeout);

// This process's NCCL backend on cuda:LOCAL_RANK: the TCPStore at MASTER_ADDR:MASTER_PORT (hosted by rank 0, or by
// torchrun's agent), under a key prefix of its own, then ProcessGroupNCCL. Error naming the address when the rendezvous fails (port in use, timeout) or when this build has
// no NCCL.
c10::intrusive_ptr<c10d::Backend> nccl_backend(const DistributedEnv& env, std::chrono::milliseconds timeout);

}  // namespace patchlm
