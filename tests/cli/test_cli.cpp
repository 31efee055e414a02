// The CLI as a user meets it: the real binary, its exit codes, what it prints on stdout and stderr.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "temp_dir.h"

namespace {

struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

// Runs `patchlm ARGS` with stdout and stderr captured separately.
Result run(const std::string& args) {
  patchlm::testing::TempDir dir;
  std::string cmd = std::string(PATCHLM_BIN) + " " + args + " > " + (dir / "out").string() + " 2> " +
                    (dir / "err").string();
  int status = std::system(cmd.c_str());
  Result r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = patchlm::testing::read_file(dir / "out");
  r.err = patchlm::testing::read_file(dir / "err");
  return r;
}

int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST(Cli, HelpListsSubcommandsAndGlobalOptions) {
  Result r = run("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("info"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--log-level"), std::string::npos);
  EXPECT_NE(r.out.find("--quiet"), std::string::npos);
  EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST(Cli, VersionPrintsNameAndVersion) {
  Result r = run("--version");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out.rfind("patchlm 0.", 0), 0u) << r.out;
}

TEST(Cli, UnknownFlagIsOneLineUsageErrorWithExitTwo) {
  Result r = run("--no-such-flag");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.rfind("patchlm: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("--no-such-flag"), std::string::npos) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST(Cli, UnknownSubcommandIsUsageError) {
  Result r = run("frobnicate");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.rfind("patchlm: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("frobnicate"), std::string::npos) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
}

TEST(Cli, BadGlobalOptionValueNamesTheValue) {
  Result r = run("--log-level loud info");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("'loud'"), std::string::npos) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
}

TEST(Cli, NoSubcommandShowsHelpAndFails) {
  Result r = run("");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("info"), std::string::npos) << r.err;
}

TEST(Cli, InfoJsonDescribesTheBuild) {
  Result r = run("info --json");
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["libtorch"].get<std::string>().rfind("2.11.0", 0), 0u) << r.out;
  EXPECT_GE(j["cpu_threads"].get<int>(), 1);
  EXPECT_TRUE(j["cuda_devices"].is_array());
}

TEST(Cli, ThreadsOptionIsApplied) {
  Result r = run("--threads 1 info --json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["cpu_threads"], 1);
}

TEST(Cli, InfoCheckWithoutGpuIsARuntimeError) {
  Result r = run("info --check");
  // On a GPU machine the self-check passes (0); elsewhere it must fail cleanly with exit 1 and one line.
  if (r.code != 0) {
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err.rfind("patchlm: error: --check", 0), 0u) << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
  }
}

TEST(Cli, BenchGemmBadInputIsOneLineUsageError) {
  for (const auto& [args, needle] : {std::pair<std::string, std::string>{"--tokens 8193", "--tokens: 8193 is outside 1..8192"},
                                     {"--tokens 0", "--tokens: 0 is outside"},
                                     {"--sparsity 60", "--sparsity: 60 is outside 0..50"},
                                     {"--shapes 100x4096", "'100x4096' must be positive multiples of 128"},
                                     {"--shapes 4096by4096", "expected OUTxIN, got '4096by4096'"},
                                     {"--shapes 4096x4096x2", "expected OUTxIN"},
                                     {"--prefill-tile-tokens 100", "--prefill-tile-tokens: 100 is not one of 64, 72, 80, 88, 96, 104, 112, 120, 128, 136, 144, 152, 160, 168, 176, 184, 192, 200, 208, 216, 224, 232, 240, 248, 256"},
                                     {"--prefill-split halves", "--prefill-split: 'halves' is not whole, stream-k, cluster, multicast-2, multicast-4, multicast-2-stream-k or multicast-4-stream-k"},
                                     {"--cluster-split sometimes", "--cluster-split: 'sometimes' is not never, graphs or always"},
                                     {"--settle-ms -5", "--settle-ms"},
                                     {"--rounds 0", "--rounds: 0 is outside 1..50"}}) {
    Result r = run("bench gemm " + args);
    EXPECT_EQ(r.code, 2) << args << ": " << r.err;
    EXPECT_EQ(r.err.rfind("patchlm: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << args << ": " << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
  }
  EXPECT_EQ(run("bench").code, 2);  // a benchmark must be named
}

TEST(Cli, BenchE2eBadInputIsOneLineUsageError) {
  for (const auto& [args, needle] : {std::pair<std::string, std::string>{"--sparsity 60", "--sparsity: 60 is outside 0..50"},
                                     {"--batch 0", "--batch: 0 must be positive"},
                                     {"--prompt 512,0", "--prompt: 0 must be positive"},
                                     {"--new-tokens 0", "--new-tokens: 0 must be positive"},
                                     {"--cluster-split eager", "--cluster-split: 'eager' is not never, graphs or always"},
                                     {"--graph-prefill-tokens -1", "--graph-prefill-tokens: -1 must be 0 (no prefill graphs) or more"},
                                     {"--rounds 21", "--rounds: 21 is outside 1..20"}}) {
    Result r = run("bench e2e --no-baseline " + args);
    EXPECT_EQ(r.code, 2) << args << ": " << r.err;
    EXPECT_EQ(r.err.rfind("patchlm: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << args << ": " << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
  }
}

// --prefill-trace needs a build with the trace stores (cmake -DPATCHLM_PREFILL_TRACE=ON); a normal build says so before
// anything runs. (A trace build goes on: to the GPU, or to "needs a CUDA device".)
TEST(Cli, BenchGemmPrefillTraceNeedsTheTraceBuild) {
  Result r = run("bench gemm --quick --shapes 256x256 --tokens 64 --sparsity 0 --prefill-trace " +
                 (std::filesystem::temp_directory_path() / "patchlm-test-prefill-trace").string());
  if (r.code != 2) GTEST_SKIP() << "a trace build (exit " << r.code << ")";
  EXPECT_EQ(r.err, "patchlm: error: --prefill-trace: this patchlm was built without the trace (cmake -DPATCHLM_PREFILL_TRACE=ON)\n");
}

TEST(Cli, BenchGemmWithoutGpuIsARuntimeError) {
  Result r = run("bench gemm --quick --shapes 256x256 --tokens 1 --sparsity 0");
  // On a GPU machine the tiny benchmark runs (0) and prints its table; elsewhere one line and exit 1.
  if (r.code == 0) {
    EXPECT_NE(r.out.find("cuBLAS"), std::string::npos) << r.out;
  } else {
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err.rfind("patchlm: error: bench gemm needs", 0), 0u) << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
  }
}

}  // namespace
