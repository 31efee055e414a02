// Data-parallel learning (learn/distributed.h) on the CPU: 2 ranks, each a thread with its own model copy, averaging
// gradients through the trainer's hook over a test-only c10d backend (store_backend.h), end with the same logits as
// 1 process running the same global batch (fp32 reduction-order tolerance); the launch environment is checked.
#include <gtest/gtest.h>
#include <torch/csrc/distributed/c10d/HashStore.hpp>

#include <thread>

#include "../engine/tiny_models.h"
#include "learn/distributed.h"
#include "learn/trainer.h"
#include "store_backend.h"
#include "util/error.h"

namespace patchlm {
namespace {

TrainerOptions options(MaskMode mode) {
  TrainerOptions t;
  t.mode = mode;
  t.steps = 3;
  t.batch = 4;
  t.micro_batch = 1;
  t.seed = 5;
  t.init.tile = {16, 16};
  t.schedule.lr = 0.05;
  return t;
}

std::vector<std::vector<std::int64_t>> sequences() {
  std::vector<std::vector<std::int64_t>> out;
  for (int s = 0; s < 8; ++s) {
    out.emplace_back();
    for (int t = 0; t < 12; ++t) out.back().push_back((s * 31 + t * 7) % 96);
  }
  return out;
}

// The logits after training with `world` ranks (rank 0's; every rank must agree).
std::vector<at::Tensor> train(MaskMode mode, int world) {
  const Checkpoint ck = testing::tiny_checkpoint(Family::llama, 3, 8, 32, 48);
  auto store = c10::make_intrusive<c10d::HashStore>();
  std::vector<std::vector<at::Tensor>> logits(static_cast<std::size_t>(world));
  auto rank_main = [&](int rank) {
    Decoder model(ck);
    TrainerOptions t = options(mode);
    t.rank = rank;
    t.world_size = world;
    if (world > 1) {
      t.all_reduce_mean = all_reduce_mean_over(c10::make_intrusive<testing::StoreBackend>(store, rank, world),
                                               std::chrono::seconds(60));
    }
    Trainer trainer(model, t, MaskPriors{});
    trainer.train(sequences());
    for (const LayerLogits& l : trainer.layers()) {
      logits[static_cast<std::size_t>(rank)].push_back(l.logits_2to4.detach().clone());
      logits[static_cast<std::size_t>(rank)].push_back(l.tile_logits.detach().clone());
    }
  };
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) threads.emplace_back(rank_main, r);
  for (std::thread& th : threads) th.join();
  for (int r = 1; r < world; ++r) {
    for (std::size_t i = 0; i < logits[0].size(); ++i) EXPECT_TRUE(at::equal(logits[0][i], logits[r][i])) << "rank " << r;
  }
  return logits[0];
}

TEST(DataParallel, TwoRanksLearnWhatOneProcessLearns) {
  const std::vector<at::Tensor> one = train(MaskMode::joint, 1), two = train(MaskMode::joint, 2);
  ASSERT_EQ(one.size(), two.size());
  double moved = 0;
  for (std::size_t i = 0; i < one.size(); ++i) {
    EXPECT_TRUE(at::allclose(one[i], two[i], 1e-4, 1e-5)) << i << ": " << (one[i] - two[i]).abs().max().item<double>();
    moved += one[i].abs().sum().item<double>();
  }
  EXPECT_GT(moved, 0.0);
}

TEST(DataParallel, LaunchEnvironmentIsChecked) {
  auto env = [](std::map<std::string, std::string> vars) {
    return [vars](const char* name) -> std::optional<std::string> {
      auto it = vars.find(name);
      return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
  };
  EXPECT_FALSE(distributed_env(env({})).launched);
  const DistributedEnv e = distributed_env(env({{"WORLD_SIZE", "2"}, {"RANK", "1"}, {"LOCAL_RANK", "1"},
                                                {"MASTER_ADDR", "10.0.0.1"}, {"MASTER_PORT", "29511"}}));
  EXPECT_EQ(e.rank, 1);
  EXPECT_EQ(e.world_size, 2);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.master_port, 29511);
  auto fails = [&](std::map<std::string, std::string> vars, const std::string& needle) {
    try {
      distributed_env(env(vars));
      ADD_FAILURE() << "no error for " << needle;
    } catch (const UsageError& err) {
      EXPECT_NE(std::string(err.what()).find(needle), std::string::npos) << err.what();
    }
  };
  fails({{"WORLD_SIZE", "2"}, {"RANK", "2"}, {"MASTER_ADDR", "h"}}, "RANK=2 is not below WORLD_SIZE=2");
  fails({{"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}}, "RANK is not");
  fails({{"WORLD_SIZE", "2"}, {"RANK", "0"}}, "MASTER_ADDR");
  fails({{"WORLD_SIZE", "two"}}, "WORLD_SIZE");
  fails({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "70000"}}, "MASTER_PORT");
}

}  // namespace
}  // namespace patchlm
