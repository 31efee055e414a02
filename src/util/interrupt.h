#pragma once
// What happens when patchlm is interrupted. SIGINT / SIGTERM are taken by one thread (sigwait), which removes every
// temporary file and directory the process still owns (util/atomic_file registers them), prints one line and exits
// 130 / 143 — or, where a command installs its own action (serve: stop accepting and finish what is in flight), runs
// that instead. SIGXFSZ is ignored, so a write past the file-size limit fails with EFBIG and becomes the usual
// one-line error instead of killing the process. A temporary left by a process that was killed outright (SIGKILL)
// carries its PID in its name and is removed by the next writer of the same target.
#include <filesystem>
#include <functional>

namespace patchlm {

// Call first thing in main (before any other thread exists: the signals are blocked in every thread after it).
void install_interrupt_handling();

// Replaces the action taken on SIGINT / SIGTERM while alive (the signal number is passed); the previous one returns.
class InterruptAction {
 public:
  explicit InterruptAction(std::function<void(int signal)> action);
  ~InterruptAction();
  InterruptAction(const InterruptAction&) = delete;
  InterruptAction& operator=(const InterruptAction&) = delete;

 private:
  std::function<void(int)> previous_;
};

// The temporaries an interrupt removes (util/atomic_file registers and forgets them).
void register_temporary(const std::filesystem::path& path);
void forget_temporary(const std::filesystem::path& path);

}  // namespace patchlm
