// Data-parallel learning (learn/distributed.h) on the CPU: 2 ranks, each a thread with its own model copy, averaging
// gradients through the trainer's hook over a test-only c10d backend (store_backend.h), end with the same logits as
// 1 process running the same global batch (fp32 reduction-order tolerance); sharded mask state (mask_shards.h)
// learns the same bits as unsharded and its checkpoints resume on any world size; the launch environment is checked.
#include <gtest/gtest.h>
#include <torch/csrc/distributed/c10d/HashStore.hpp>

#include <filesystem>
#include <fstream>
#include <thread>

#include <unistd.h>

#include "learn/distributed.h"
#include "learn/trainer.h"
#include "store_backend.h"
#include "tiny_learning.h"
#include "util/error.h"

namespace patchlm {
namespace {

struct RunSpec {
  MaskMode mode = MaskMode::joint;
  int world = 1;
  bool shard = false;
  at::ScalarType state_dtype = at::kFloat;
  std::filesystem::path checkpoint_dir;  // checkpoints every 2 steps
  bool resume = false;
  std::int64_t stop_after = 0;  // > 0: every rank stops (throws) after this step, before its checkpoint
};

struct Interrupted {};

// The whole logits after training (rank 0's; every rank must agree).
std::vector<at::Tensor> train(const RunSpec& run) {
  const Checkpoint ck = testing::tiny_learning_model();
  auto store = c10::make_intrusive<c10d::HashStore>();
  std::vector<std::vector<at::Tensor>> logits(static_cast<std::size_t>(run.world));
  std::function<void(int)> rank_body;
  auto rank_main = [&](int rank) {
    try {
      rank_body(rank);
    } catch (const Interrupted&) {
    } catch (const std::exception& e) {
      ADD_FAILURE() << "rank " << rank << ": " << e.what();
    }
  };
  rank_body = [&](int rank) {
    Decoder model(ck);
    TrainerOptions t = testing::tiny_learning_options(run.mode, 3);
    t.shard_masks = run.shard;
    t.state_dtype = run.state_dtype;
    t.checkpoint_dir = run.checkpoint_dir;
    t.checkpoint_every = 2;
    if (run.stop_after > 0) {
      t.on_step = [&](const StepMetrics& m) {
        if (m.step == run.stop_after) throw Interrupted{};
      };
    }
    if (run.world > 1) {
      use_ranks(t, c10::make_intrusive<testing::StoreBackend>(store, rank, run.world), std::chrono::seconds(60));
    }
    Trainer trainer(model, t, MaskPriors{});
    if (run.resume) trainer.resume(run.checkpoint_dir);
    trainer.train(testing::tiny_learning_sequences());
    for (const LayerLogits& l : trainer.final_layers()) {
      if (rank != 0 && run.shard) {
        EXPECT_FALSE(l.logits_2to4.defined());  // the whole logits stay on rank 0
        continue;
      }
      for (const at::Tensor& t : {l.logits_2to4, l.tile_logits})
        if (t.defined()) logits[static_cast<std::size_t>(rank)].push_back(t.detach().clone());
    }
  };
  std::vector<std::thread> threads;
  for (int r = 0; r < run.world; ++r) threads.emplace_back(rank_main, r);
  for (std::thread& th : threads) th.join();
  for (int r = 1; r < run.world && !run.shard; ++r) {
    for (std::size_t i = 0; i < logits[0].size(); ++i) EXPECT_TRUE(at::equal(logits[0][i], logits[r][i])) << "rank " << r;
  }
  return logits[0];
}

void expect_close(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b, double rtol, double atol) {
  ASSERT_EQ(a.size(), b.size());
  double moved = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const at::Tensor x = a[i].to(at::kFloat), y = b[i].to(at::kFloat);
    EXPECT_TRUE(at::allclose(x, y, rtol, atol)) << i << ": " << (x - y).abs().max().item<double>();
    moved += x.abs().sum().item<double>();
  }
  EXPECT_GT(moved, 0.0);
}

void expect_equal(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::equal(a[i], b[i])) << i;
}

TEST(DataParallel, TwoRanksLearnWhatOneProcessLearns) {
  expect_close(train({.world = 1}), train({.world = 2}), 1e-4, 1e-5);
}

// Sharding moves where the state lives, not what is computed: the same bits as the unsharded run with the same
// ranks (the reduce-scatter sums in the all-reduce's order; the rounding is keyed by global element).
TEST(DataParallel, ShardedMaskStateLearnsWhatUnshardedLearns) {
  expect_equal(train({.world = 1, .shard = true}), train({.world = 1}));
  expect_equal(train({.world = 2, .shard = true}), train({.world = 2}));
  expect_equal(train({.world = 2, .shard = true, .state_dtype = at::kBFloat16}),
               train({.world = 2, .state_dtype = at::kBFloat16}));
  expect_equal(train({.mode = MaskMode::maskllm, .world = 2, .shard = true}), train({.mode = MaskMode::maskllm, .world = 2}));
}

// A sharded run's checkpoint is the unsharded file: it resumes on another world size, sharded or not.
TEST(DataParallel, ShardedCheckpointResumesOnAnyWorldSize) {
  const std::filesystem::path root = std::filesystem::temp_directory_path() /
                                     ("patchlm_shard_ckpt_" + std::to_string(::getpid()));
  std::filesystem::remove_all(root);
  const std::vector<at::Tensor> whole_run = train({.world = 2, .shard = true});
  auto interrupted_then = [&](const std::string& name, RunSpec resumed) {
    resumed.checkpoint_dir = root / name;
    train({.world = 2, .shard = true, .checkpoint_dir = resumed.checkpoint_dir, .stop_after = 3});
    EXPECT_TRUE(std::filesystem::exists(resumed.checkpoint_dir / "learn_state.safetensors"));
    resumed.resume = true;
    return train(resumed);
  };
  expect_close(interrupted_then("one", {.world = 1}), whole_run, 1e-4, 1e-5);
  expect_close(interrupted_then("one_sharded", {.world = 1, .shard = true}), whole_run, 1e-4, 1e-5);
  expect_equal(interrupted_then("two_unsharded", {.world = 2}), whole_run);
  // The file of a sharded run is the unsharded run's, byte for byte.
  train({.world = 2, .checkpoint_dir = root / "plain"});
  train({.world = 2, .shard = true, .checkpoint_dir = root / "sharded"});
  auto bytes = [](const std::filesystem::path& f) {
    std::ifstream in(f, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_EQ(bytes(root / "plain" / "learn_state.safetensors"), bytes(root / "sharded" / "learn_state.safetensors"));
  std::filesystem::remove_all(root);
}

TEST(DataParallel, ShardLayoutCoversTheTensor) {
  for (int world : {1, 2, 3, 8}) {
    std::vector<at::Tensor> slices;
    const at::Tensor whole = at::arange(1, 1 + 6 * 37, at::kFloat).view({37, 6});
    for (int r = 0; r < world; ++r) {
      const ShardLayout l = shard_layout(whole.numel(), r, world);
      EXPECT_EQ(l.slice % 8, 0);
      EXPECT_GE(l.padded(), whole.numel());
      slices.push_back(take_slice(whole, l));
    }
    const at::Tensor all = at::cat(slices);
    EXPECT_TRUE(at::equal(all.narrow(0, 0, whole.numel()).view({37, 6}), whole)) << world;
    EXPECT_EQ(all.narrow(0, whole.numel(), all.numel() - whole.numel()).abs().sum().item<double>(), 0.0);
  }
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
