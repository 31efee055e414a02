#include "learn/distributed.h"

#include <cstdlib>

#include "util/error.h"
#include "util/integer_text.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#if PATCHLM_LEARN_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace patchlm {
namespace {

int int_var(const EnvLookup& lookup, const char* name, int fallback, int lo, int hi) {
  const std::optional<std::string> v = lookup(name);
  if (!v) return fallback;
  const std::optional<long long> n = parse_integer(*v);
  if (!n || *n < lo || *n > hi) {
    throw UsageError(str_cat("environment ", name, "=", in_quotes(*v), ": must be an integer in ", lo, "..", hi));
  }
  return static_cast<int>(*n);
}

}  // namespace

DistributedEnv distributed_env(const EnvLookup& lookup) {
  DistributedEnv e;
  e.launched = lookup("WORLD_SIZE").has_value();
  if (!e.launched) return e;
  e.world_size = int_var(lookup, "WORLD_SIZE", 1, 1, 1 << 20);
  if (e.world_size > 1 && !lookup("RANK")) throw UsageError("environment: WORLD_SIZE is set but RANK is not");
  e.rank = int_var(lookup, "RANK", 0, 0, 1 << 20);
  if (e.rank >= e.world_size) {
    throw UsageError(str_cat("environment: RANK=", e.rank, " is not below WORLD_SIZE=", e.world_size));
  }
  e.local_rank = int_var(lookup, "LOCAL_RANK", 0, 0, 1 << 16);
  e.master_port = int_var(lookup, "MASTER_PORT", 29500, 1, 65535);
  if (const auto addr = lookup("MASTER_ADDR")) e.master_addr = *addr;
  e.agent_store = lookup("TORCHELASTIC_USE_AGENT_STORE").value_or("") == "True";
  if (e.world_size > 1 && e.master_addr.empty()) {
    throw UsageError(str_cat("environment: MASTER_ADDR is not set (WORLD_SIZE=", e.world_size, ")"));
  }
  return e;
}

DistributedEnv distributed_env() {
  return distributed_env([](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    return v ? std::optional<std::string>(v) : std::nullopt;
  });
}

// Every collective below waits with Work::wait() and no timeout: for NCCL that orders the current stream after the
// collective and lets the host queue on — a timeout argument would block the host until the collective is done,
// a bubble per layer (measured: 0.26 s instead of 0.16 s per step on one H200). The timeout is the backend's
// (ProcessGroupNCCL's watchdog, set from --dist-timeout) and each collective's options.
std::function<void(std::vector<at::Tensor>&)> all_reduce_mean_over(c10::intrusive_ptr<c10d::Backend> backend,
                                                                   std::chrono::milliseconds timeout) {
  return [backend, timeout](std::vector<at::Tensor>& tensors) {
    if (tensors.empty()) return;
    const double world = static_cast<double>(backend->getSize());
    // One collective per call: a single tensor in place, several through one flat buffer.
    const bool in_place = tensors.size() == 1 && tensors.front().is_contiguous();
    at::Tensor flat = in_place ? tensors.front() : [&] {
      std::vector<at::Tensor> parts;
      for (const at::Tensor& t : tensors) parts.push_back(t.reshape({-1}));
      return at::cat(parts);
    }();
    std::vector<at::Tensor> one{flat};
    c10d::AllreduceOptions opts;
    opts.reduceOp = c10d::ReduceOp::SUM;
    opts.timeout = timeout;
    backend->allreduce(one, opts)->wait();
    flat.div_(world);
    if (in_place) return;
    std::int64_t offset = 0;
    for (at::Tensor& t : tensors) {
      t.copy_(flat.narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
  };
}

ShardCollectives shard_collectives_over(c10::intrusive_ptr<c10d::Backend> backend, std::chrono::milliseconds timeout) {
  ShardCollectives c;
  c.all_gather = [backend, timeout](const at::Tensor& slice) {
    at::Tensor in = slice.contiguous();
    at::Tensor out = at::empty({in.numel() * backend->getSize()}, in.options());
    c10d::AllgatherOptions opts;
    opts.timeout = timeout;
    backend->_allgather_base(out, in, opts)->wait();
    return out;
  };
  c.reduce_scatter_mean = [backend, timeout](const at::Tensor& full) {
    at::Tensor in = full.to(at::kFloat).contiguous();
    const std::int64_t world = backend->getSize();
    if (in.numel() % world != 0) throw Error(str_cat("reduce-scatter: ", in.numel(), " elements over ", world, " ranks"));
    at::Tensor out = at::empty({in.numel() / world}, in.options());
    c10d::ReduceScatterOptions opts;
    opts.reduceOp = c10d::ReduceOp::SUM;
    opts.timeout = timeout;
    backend->_reduce_scatter_base(out, in, opts)->wait();
    return out.div_(static_cast<double>(world));
  };
  return c;
}

void use_ranks(TrainerOptions& t, c10::intrusive_ptr<c10d::Backend> backend, std::chrono::milliseconds timeout) {
  t.rank = backend->getRank();
  t.world_size = backend->getSize();
  t.all_reduce_mean = all_reduce_mean_over(backend, timeout);
  t.shard_collectives = shard_collectives_over(backend, timeout);
}

c10::intrusive_ptr<c10d::Backend> join_launched_ranks(TrainerOptions& t, at::Device& device, double timeout_s) {
  const DistributedEnv env = distributed_env();
  if (!(env.world_size > 1 || (env.launched && device.is_cuda()))) return {};
  if (!device.is_cuda()) {
    throw UsageError(str_cat("WORLD_SIZE=", env.world_size, ": data-parallel learning runs on CUDA (NCCL); pass --device cuda"));
  }
  if (!(timeout_s > 0)) throw UsageError(str_cat("--dist-timeout: must be positive, got ", timeout_s));
  device = at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
  const auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(timeout_s * 1000));
  c10::intrusive_ptr<c10d::Backend> backend = nccl_backend(env, timeout);
  use_ranks(t, backend, timeout);
  return backend;
}

BackendShutdown::~BackendShutdown() {
  try {
    if (backend) backend->shutdown();
  } catch (...) {  // the run's own outcome (or error) is what the user needs to see
  }
}

c10::intrusive_ptr<c10d::Store> rendezvous_store(const DistributedEnv& env, std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(env.master_port);
  so.isServer = env.rank == 0 && !env.agent_store;
  so.numWorkers = env.world_size;
  so.timeout = timeout;
  try {
    return c10::make_intrusive<c10d::PrefixStore>("patchlm", c10::make_intrusive<c10d::TCPStore>(env.master_addr, so));
  } catch (const std::exception& e) {
    throw Error(str_cat("rendezvous at ", env.master_addr, ":", env.master_port, " (rank ", env.rank, " of ",
                        env.world_size, ") failed: ", e.what()));
  }
}

c10::intrusive_ptr<c10d::Backend> nccl_backend(const DistributedEnv& env, std::chrono::milliseconds timeout) {
#if PATCHLM_LEARN_NCCL
  c10::intrusive_ptr<c10d::Store> store = rendezvous_store(env, timeout);
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, env.rank, env.world_size, options);
#else
  (void)timeout;
  throw Error(str_cat("WORLD_SIZE=", env.world_size, ": distributed learning needs a CUDA build with NCCL (c10d's "
                      "ProcessGroupNCCL); this build has none"));
#endif
}

}  // namespace patchlm
