#pragma once
// Where a command may write, checked before any work starts (so a long run never ends with an output it cannot
// write): the parent directory exists and is writable, and the output is not one of the command's inputs — not the
// same file (realpath, hard links), nor a file inside an input directory (a model's own weights). UsageError naming
// the option and the path otherwise.
#include <filesystem>
#include <string>
#include <vector>

namespace patchlm {

// A file written atomically (replacing an existing file of that name is allowed unless it is an input).
void check_output_file(const std::filesystem::path& out, const std::string& option,
                       const std::vector<std::filesystem::path>& inputs = {});
// A directory created whole: it must not exist yet (Error, not UsageError, when it does).
void check_new_output_dir(const std::filesystem::path& out, const std::string& option,
                          const std::vector<std::filesystem::path>& inputs = {});
// A directory a command keeps writing into (learning checkpoints): absent (it will be created) or a writable directory.
void check_output_dir(const std::filesystem::path& out, const std::string& option,
                      const std::vector<std::filesystem::path>& inputs = {});

// An input path: it exists and is a regular file or a directory (a FIFO or device would block or never end).
void check_input_path(const std::filesystem::path& in, const std::string& what);

}  // namespace patchlm
