#include "util/interrupt.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <mutex>
#include <set>
#include <thread>

namespace patchlm {
namespace {

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::set<std::filesystem::path>& temporaries() {
  static std::set<std::filesystem::path> t;
  return t;
}
std::function<void(int)>& action() {
  static std::function<void(int)> a;
  return a;
}

void remove_temporaries_and_exit(int sig) {
  std::size_t removed = 0;
  {
    std::lock_guard lock(registry_mutex());
    for (const auto& p : temporaries()) {
      std::error_code ec;
      removed += std::filesystem::remove_all(p, ec) > 0;
    }
  }
  std::cerr << "patchlm: interrupted (" << (sig == SIGTERM ? "SIGTERM" : "SIGINT") << ")"
            << (removed ? "; removed its " + std::to_string(removed) + " unfinished output(s)" : std::string()) << "\n";
  std::cerr.flush();
  ::_exit(128 + sig);
}

}  // namespace

void install_interrupt_handling() {
  ::signal(SIGXFSZ, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set] {
    while (true) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      std::function<void(int)> a;
      {
        std::lock_guard lock(registry_mutex());
        a = action();
      }
      if (a) {
        a(sig);
      } else {
        remove_temporaries_and_exit(sig);
      }
    }
  }).detach();
}

InterruptAction::InterruptAction(std::function<void(int)> a) {
  std::lock_guard lock(registry_mutex());
  previous_ = std::move(action());
  action() = std::move(a);
}

InterruptAction::~InterruptAction() {
  std::lock_guard lock(registry_mutex());
  action() = std::move(previous_);
}

void register_temporary(const std::filesystem::path& path) {
  std::lock_guard lock(registry_mutex());
  temporaries().insert(path);
}

void forget_temporary(const std::filesystem::path& path) {
  std::lock_guard lock(registry_mutex());
  temporaries().erase(path);
}

}  // namespace patchlm
