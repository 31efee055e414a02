// Data-parallel learning between processes on the CPU: ranks started the way `patchlm launch` starts them
// (util/launcher), meeting at the product's TCPStore rendezvous, exchanging through the test-only StoreBackend
// (learn_rank_worker.cpp). Two processes learn what one learns, sharded or not; a rank killed mid-run stops the
// run at once with the rank named, and the last checkpoint resumes on two processes and on one.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include <unistd.h>

#include <ATen/ATen.h>

#include "io/safetensors.h"
#include "model/checkpoint.h"
#include "util/launcher.h"

namespace patchlm {
namespace {

namespace fs = std::filesystem;

struct Workdir {
  fs::path root = fs::temp_directory_path() / ("patchlm_multiprocess_" + std::to_string(::getpid()));
  Workdir() { fs::remove_all(root); }
  ~Workdir() { fs::remove_all(root); }
};

int next_port() {
  static int port = 29600 + static_cast<int>(::getpid() % 2000);
  return port += 3;
}

LaunchResult run_ranks(int nproc, const fs::path& dir, bool shard, bool resume, int die_rank = -1, int die_step = 0) {
  LaunchSpec spec;
  // Built next to this test (wherever the build folder is now).
  spec.executable = (fs::read_symlink("/proc/self/exe").parent_path() / "learn_rank_worker").string();
  spec.args = {dir.string(), shard ? "1" : "0", resume ? "1" : "0"};
  if (die_rank >= 0) {
    spec.args.push_back(std::to_string(die_rank));
    spec.args.push_back(std::to_string(die_step));
  }
  spec.nproc = nproc;
  spec.master_port = next_port();
  spec.grace = std::chrono::seconds(5);
  return launch_local_ranks(spec);
}

// The state written at the end of a run: every logit and moment, by name.
std::map<std::string, at::Tensor> state_of(const fs::path& dir) {
  const SafetensorsFile f = SafetensorsFile::open(dir / "learn_state.safetensors");
  std::map<std::string, at::Tensor> out;
  for (const TensorEntry& e : f.tensors()) out[e.name] = tensor_view(f, e).clone();
  return out;
}

void expect_state_close(const fs::path& a, const fs::path& b, double tol) {
  const auto x = state_of(a), y = state_of(b);
  ASSERT_EQ(x.size(), y.size());
  ASSERT_FALSE(x.empty());
  for (const auto& [name, t] : x) {
    ASSERT_TRUE(y.count(name)) << name;
    if (tol == 0) {
      EXPECT_TRUE(at::equal(t, y.at(name))) << name;
    } else {
      EXPECT_TRUE(at::allclose(t.to(at::kFloat), y.at(name).to(at::kFloat), tol, tol * 0.1)) << name;
    }
  }
}

TEST(MultiProcess, TwoProcessesLearnWhatOneLearnsShardedOrNot) {
  Workdir w;
  ASSERT_EQ(run_ranks(1, w.root / "one", false, false).exit_code, 0);
  ASSERT_EQ(run_ranks(2, w.root / "two", false, false).exit_code, 0);
  ASSERT_EQ(run_ranks(2, w.root / "two_sharded", true, false).exit_code, 0);
  expect_state_close(w.root / "one", w.root / "two", 1e-4);
  expect_state_close(w.root / "two", w.root / "two_sharded", 0);
}

TEST(MultiProcess, AKilledRankStopsTheRunAndTheCheckpointResumes) {
  Workdir w;
  ASSERT_EQ(run_ranks(2, w.root / "whole", true, false).exit_code, 0);
  for (const int resume_nproc : {2, 1}) {
    const fs::path dir = w.root / ("killed_then_" + std::to_string(resume_nproc));
    const auto t0 = std::chrono::steady_clock::now();
    const LaunchResult r = run_ranks(2, dir, true, false, /*die_rank=*/1, /*die_step=*/3);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(r.failed_rank, 1);
    EXPECT_EQ(r.exit_code, 128 + 9);
    EXPECT_LT(seconds, 30.0) << "the surviving rank was not stopped";
    // The checkpoint of step 2 is intact and resumes — on two processes, or on one.
    const SafetensorsFile f = SafetensorsFile::open(dir / "learn_state.safetensors");
    EXPECT_EQ(f.header().metadata.at("step"), "2");
    ASSERT_EQ(run_ranks(resume_nproc, dir, resume_nproc > 1, true).exit_code, 0);
    expect_state_close(dir, w.root / "whole", resume_nproc == 2 ? 0 : 1e-4);
  }
}

}  // namespace
}  // namespace patchlm
