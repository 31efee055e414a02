#include "util/python_baseline.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "util/error.h"
#include "util/json_io.h"
#include "util/log.h"

namespace patchlm {

std::string find_baseline_script(const std::string& relative, const std::string& override_path) {
  if (!override_path.empty()) return override_path;
  for (std::filesystem::path dir = std::filesystem::current_path(); !dir.empty(); dir = dir.parent_path()) {
    if (std::filesystem::exists(dir / relative)) return (dir / relative).string();
    if (dir == dir.root_path()) break;
  }
  return "";
}

nlohmann::json run_python_baseline(const std::string& python, const std::string& script, const std::string& args,
                                   const std::string& what) {
  if (script.empty()) {
    log_warn("baseline skipped", {{"baseline", what}, {"reason", "its script was not found (run from the source tree or give --baseline-script)"}});
    return nullptr;
  }
  const std::filesystem::path out =
      std::filesystem::temp_directory_path() / str_cat("patchlm-baseline-", ::getpid(), ".json");
  const std::string cmd = str_cat(python, " ", script, " ", args, " --json ", out.string(), " 1>&2");
  log_info("baseline", {{"command", cmd}});
  const int rc = std::system(cmd.c_str());
  if (rc != 0 || !std::filesystem::exists(out)) {
    log_warn("baseline failed", {{"baseline", what}, {"exit", rc}, {"note", "the python needs torch and transformers"}});
    std::filesystem::remove(out);
    return nullptr;
  }
  nlohmann::json j = read_json_file(out);
  std::filesystem::remove(out);
  return j;
}

}  // namespace patchlm
