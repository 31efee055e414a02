#pragma once
// Benchmarks time a Python yardstick in the same run (bench/e2e_transformers.py, bench/learn_reference.py): found in
// the source tree above the working directory (or given), run with the chosen python, read back as JSON. Python is
// never needed by the product: without it, or without torch/transformers, the baseline is skipped with a warning.
#include <string>

#include <nlohmann/json.hpp>

namespace patchlm {

// `override_path` if set, else `relative` (e.g. "bench/learn_reference.py") in the working directory or a parent;
// empty when neither exists.
std::string find_baseline_script(const std::string& relative, const std::string& override_path);

// Runs `python script args --json TMP` (its output to stderr) and returns what it wrote, or null with a warning that
// names `what` and why.
nlohmann::json run_python_baseline(const std::string& python, const std::string& script, const std::string& args,
                                   const std::string& what);

}  // namespace patchlm
