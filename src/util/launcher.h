#pragma once
// `patchlm launch`: torchrun's one-host job without Python — N copies of a command, each told its rank the way
// torchrun tells it (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), watched together:
// when one exits non-zero the others get SIGTERM (SIGKILL after a grace period), SIGINT / SIGTERM to the launcher
// go on to every rank, and the launcher returns the first failing rank's code.
#include <chrono>
#include <string>
#include <vector>

namespace patchlm {

struct LaunchSpec {
  std::string executable;         // run as argv[0]
  std::vector<std::string> args;  // after argv[0]
  int nproc = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::chrono::milliseconds grace{30000};  // SIGTERM → SIGKILL
};

struct LaunchResult {
  int exit_code = 0;     // 0, or the first failing rank's exit code (128 + signal when killed)
  int failed_rank = -1;  // −1 when every rank succeeded
};

// Error when a process cannot be started (the others are stopped first).
LaunchResult launch_local_ranks(const LaunchSpec& spec);

}  // namespace patchlm
