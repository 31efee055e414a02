// One rank of a multi-process CPU learning run (test_multiprocess.cpp starts it through util/launcher, as `patchlm
// launch` does): the product's launch environment (distributed_env) and TCPStore rendezvous (rendezvous_store), the
// test-only StoreBackend over that store in place of NCCL, and the trainer on a tiny model, checkpointing every 2
// steps into CHECKPOINT_DIR (whose learn_state.safetensors the test reads).
//   learn_rank_worker CHECKPOINT_DIR SHARD(0|1) RESUME(0|1) [DIE_RANK DIE_STEP]
// With DIE_RANK/DIE_STEP that rank kills itself (SIGKILL) after that step, before its checkpoint.
#include <csignal>
#include <cstdio>
#include <string>
#include <thread>

#include "learn/distributed.h"
#include "learn/trainer.h"
#include "store_backend.h"
#include "tiny_learning.h"

using namespace patchlm;

int main(int argc, char** argv) {
  if (argc != 4 && argc != 6) {
    std::fprintf(stderr, "usage: learn_rank_worker CHECKPOINT_DIR SHARD RESUME [DIE_RANK DIE_STEP]\n");
    return 2;
  }
  try {
    const DistributedEnv env = distributed_env();
    const auto timeout = std::chrono::seconds(60);
    TrainerOptions t = testing::tiny_learning_options(MaskMode::joint, 4);
    t.checkpoint_dir = argv[1];
    t.checkpoint_every = 2;
    t.shard_masks = std::string(argv[2]) == "1";
    c10::intrusive_ptr<c10d::Store> store;
    if (env.world_size > 1) {
      store = rendezvous_store(env, timeout);
      use_ranks(t, c10::make_intrusive<testing::StoreBackend>(store, env.rank, env.world_size), timeout);
    }
    if (argc == 6 && env.rank == std::stoi(argv[4])) {
      const std::int64_t die_step = std::stoll(argv[5]);
      t.on_step = [die_step](const StepMetrics& m) {
        if (m.step == die_step) std::raise(SIGKILL);
      };
    }
    const Checkpoint ck = testing::tiny_learning_model();
    Decoder model(ck);
    Trainer trainer(model, t, MaskPriors{});
    if (std::string(argv[3]) == "1") trainer.resume(t.checkpoint_dir);
    trainer.train(testing::tiny_learning_sequences());
    trainer.final_layers();  // a collective when sharded
    // Rank 0 hosts the store: it leaves last, when every rank has read what it needed.
    if (store) {
      store->add("done", 1);
      if (env.rank == 0)
        while (store->add("done", 0) < env.world_size) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "learn_rank_worker: %s\n", e.what());
    return 1;
  }
}
