#include "util/launcher.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "util/error.h"
#include "util/interrupt.h"

extern char** environ;

namespace patchlm {
namespace {

// The process's environment with the rank variables set (replacing any inherited ones).
std::vector<std::string> rank_environment(const LaunchSpec& spec, int rank) {
  const std::map<std::string, std::string> vars = {
      {"RANK", std::to_string(rank)},          {"LOCAL_RANK", std::to_string(rank)},
      {"WORLD_SIZE", std::to_string(spec.nproc)}, {"LOCAL_WORLD_SIZE", std::to_string(spec.nproc)},
      {"MASTER_ADDR", spec.master_addr},       {"MASTER_PORT", std::to_string(spec.master_port)}};
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    if (!vars.count(entry.substr(0, entry.find('=')))) env.push_back(entry);
  }
  for (const auto& [k, v] : vars) env.push_back(k + "=" + v);
  return env;
}

pid_t spawn_rank(const LaunchSpec& spec, int rank) {
  std::vector<std::string> argv_s{spec.executable};
  argv_s.insert(argv_s.end(), spec.args.begin(), spec.args.end());
  const std::vector<std::string> env_s = rank_environment(spec, rank);
  std::vector<char*> argv, envp;
  for (const std::string& a : argv_s) argv.push_back(const_cast<char*>(a.c_str()));
  for (const std::string& e : env_s) envp.push_back(const_cast<char*>(e.c_str()));
  argv.push_back(nullptr);
  envp.push_back(nullptr);
  // The launcher blocks SIGINT / SIGTERM in every thread (util/interrupt): a rank starts with none blocked.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, spec.executable.c_str(), nullptr, &attr, argv.data(), envp.data());
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw Error(str_cat("launch: cannot start rank ", rank, " (", spec.executable, "): ", std::strerror(rc)));
  return pid;
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace

LaunchResult launch_local_ranks(const LaunchSpec& spec) {
  if (spec.nproc < 1) throw UsageError(str_cat("--nproc: must be at least 1, got ", spec.nproc));
  if (spec.args.empty()) throw UsageError("launch: give the command to run after --, e.g. patchlm launch --nproc 2 -- learn ...");
  std::mutex mu;
  std::map<pid_t, int> running;  // pid → rank
  auto signal_all = [&](int sig) {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& [pid, rank] : running) kill(pid, sig);
  };
  InterruptAction forward([&](int sig) { signal_all(sig); });
  try {
    for (int r = 0; r < spec.nproc; ++r) {
      const pid_t pid = spawn_rank(spec, r);
      std::lock_guard<std::mutex> lock(mu);
      running[pid] = r;
    }
  } catch (...) {
    signal_all(SIGTERM);
    while (waitpid(-1, nullptr, 0) > 0) {
    }
    throw;
  }
  LaunchResult result;
  auto kill_deadline = std::chrono::steady_clock::time_point::max();
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (running.empty()) break;
    }
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno != EINTR) break;
    if (pid <= 0) {
      if (std::chrono::steady_clock::now() > kill_deadline) signal_all(SIGKILL);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    int rank = -1;
    {
      std::lock_guard<std::mutex> lock(mu);
      auto it = running.find(pid);
      if (it == running.end()) continue;
      rank = it->second;
      running.erase(it);
    }
    const int code = exit_code_of(status);
    if (code != 0 && result.failed_rank < 0) {
      result = {code, rank};
      signal_all(SIGTERM);  // the others cannot finish without it
      kill_deadline = std::chrono::steady_clock::now() + spec.grace;
    }
  }
  return result;
}

}  // namespace patchlm
