#include "util/output_paths.h"

#include <unistd.h>

#include "util/error.h"

namespace patchlm {
namespace fs = std::filesystem;
namespace {

fs::path parent_or_cwd(const fs::path& p) {
  const fs::path parent = p.parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

void check_parent(const fs::path& out, const std::string& option) {
  const fs::path parent = parent_or_cwd(out);
  std::error_code ec;
  if (!fs::is_directory(parent, ec))
    throw UsageError(str_cat(option, ": the folder ", in_quotes(parent.string()), " of ", in_quotes(out.string()),
                             " does not exist"));
  if (::access(parent.c_str(), W_OK | X_OK) != 0)
    throw UsageError(str_cat(option, ": the folder ", in_quotes(parent.string()), " is not writable"));
}

// `out` (existing) is an input, or a file inside an input directory.
void check_not_input(const fs::path& out, const std::string& option, const std::vector<fs::path>& inputs) {
  std::error_code ec;
  if (!fs::exists(out, ec)) return;
  for (const fs::path& in : inputs) {
    if (in.empty() || !fs::exists(in, ec)) continue;
    const bool same = fs::equivalent(out, in, ec);
    const bool inside = !same && fs::is_directory(in, ec) && fs::equivalent(parent_or_cwd(out), in, ec);
    if (same || inside)
      throw UsageError(str_cat(option, ": ", in_quotes(out.string()), same ? " is the input " : " is a file of the input ",
                               in_quotes(in.string()), "; writing there would destroy it (choose another path)"));
  }
}

}  // namespace

void check_output_file(const fs::path& out, const std::string& option, const std::vector<fs::path>& inputs) {
  if (out.empty() || out.filename().empty()) throw UsageError(str_cat(option, ": ", in_quotes(out.string()), " names no file"));
  std::error_code ec;
  if (fs::is_directory(out, ec)) throw UsageError(str_cat(option, ": ", in_quotes(out.string()), " is a directory"));
  check_parent(out, option);
  check_not_input(out, option, inputs);
}

void check_new_output_dir(const fs::path& out, const std::string& option, const std::vector<fs::path>& inputs) {
  fs::path dir = out.filename().empty() ? out.parent_path() : out;
  std::error_code ec;
  check_not_input(dir, option, inputs);
  if (fs::exists(dir, ec))  // a runtime condition, as when another run creates it first (exit 1)
    throw Error(str_cat(option, ": ", in_quotes(dir.string()), " already exists; remove it or choose another"));
  check_parent(dir, option);
}

void check_output_dir(const fs::path& out, const std::string& option, const std::vector<fs::path>& inputs) {
  std::error_code ec;
  check_not_input(out, option, inputs);
  if (!fs::exists(out, ec)) return check_parent(out.filename().empty() ? out.parent_path() : out, option);
  if (!fs::is_directory(out, ec)) throw UsageError(str_cat(option, ": ", in_quotes(out.string()), " is not a directory"));
  if (::access(out.c_str(), W_OK | X_OK) != 0) throw UsageError(str_cat(option, ": ", in_quotes(out.string()), " is not writable"));
}

void check_input_path(const fs::path& in, const std::string& what) {
  std::error_code ec;
  const fs::file_status st = fs::status(in, ec);
  if (ec || !fs::exists(st)) throw Error(str_cat(what, " ", in_quotes(in.string()), " does not exist"));
  if (!fs::is_regular_file(st) && !fs::is_directory(st))
    throw Error(str_cat(what, " ", in_quotes(in.string()), " is neither a regular file nor a directory"));
}

}  // namespace patchlm
