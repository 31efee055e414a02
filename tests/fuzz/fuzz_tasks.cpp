// libFuzzer target: any byte string as a task's JSON Lines file (each of the 8 task formats) gives requests or an
// Error, never a crash.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "eval/tasks.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::filesystem::path dir = "/tmp/patchlm-fuzz-tasks-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir / "mmlu");
  if (size == 0) return 0;
  const std::string& task = patchlm::supported_tasks()[data[0] % patchlm::supported_tasks().size()];
  const std::filesystem::path file = task == "mmlu" ? dir / "mmlu" / "subject.jsonl" : dir / (task + ".jsonl");
  std::ofstream(file, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data + 1),
                                                                 static_cast<std::streamsize>(size - 1));
  try {
    volatile std::size_t sink = patchlm::read_task(task, dir).size();
    (void)sink;
  } catch (const patchlm::Error&) {
  }
  std::filesystem::remove(file);
  return 0;
}
