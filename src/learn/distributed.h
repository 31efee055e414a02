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
#include <torch/csrc/distributed/c10d/Store.hpp>

#include "learn/mask_shards.h"
#include "learn/trainer.h"

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

// --shard-masks' all-gather and reduce-scatter (mask_shards.h) over `backend`: one collective each.
ShardCollectives shard_collectives_over(c10::intrusive_ptr<c10d::Backend> backend, std::chrono::milliseconds timeout);

// The rendezvous of the ranks: the TCPStore at MASTER_ADDR:MASTER_PORT (hosted by rank 0, or by torchrun's agent),
// under a key prefix of its own. Error naming the address when it fails (port in use, timeout).
c10::intrusive_ptr<c10d::Store> rendezvous_store(const DistributedEnv& env, std::chrono::milliseconds timeout);

// The trainer as rank backend->getRank() of backend->getSize(): its all-reduce and sharding hooks over `backend`.
void use_ranks(TrainerOptions& trainer, c10::intrusive_ptr<c10d::Backend> backend, std::chrono::milliseconds timeout);

// Launched by torchrun or `patchlm launch` (or by hand: WORLD_SIZE set, with a CUDA device): this process becomes one
// rank on cuda:LOCAL_RANK (`device` is set to it) over NCCL — with one rank too, on CUDA, the same path end to end —
// and the trainer's hooks are filled in (use_ranks). Returns the backend (shut it down at the end), or null for a
// plain single-process run. UsageError for data parallelism on the CPU or a non-positive timeout.
c10::intrusive_ptr<c10d::Backend> join_launched_ranks(TrainerOptions& trainer, at::Device& device, double timeout_s);

// Shuts a backend down when the run ends, also on an error (nothing for a null one): NCCL's communicators are
// released instead of being torn down at exit.
struct BackendShutdown {
  c10::intrusive_ptr<c10d::Backend> backend;
  ~BackendShutdown();
};

// This process's NCCL backend on cuda:LOCAL_RANK over rendezvous_store: ProcessGroupNCCL. Error when this build has
// no NCCL.
c10::intrusive_ptr<c10d::Backend> nccl_backend(const DistributedEnv& env, std::chrono::milliseconds timeout);

}  // namespace patchlm
