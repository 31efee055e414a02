#pragma once
// How subcommands plug into the CLI: each cmd_*.cpp registers its options on a CLI11 sub-app and returns the
// action to run after parsing succeeded. Subcommand files parse and print only; the work lives in src/<room>.
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

namespace patchlm::cli {

// Options every subcommand shares; applied before the action runs.
struct GlobalOptions {
  std::string log_level = "info";
  std::string log_format = "text";
  bool quiet = false;
  int threads = 0;  // 0 = LibTorch's default (all cores)
  int argc = 0;     // the command line, for the metadata of result files
  const char* const* argv = nullptr;
};

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;  // exit code
};

Command add_info_command(CLI::App& root, const GlobalOptions& globals);
Command add_convert_command(CLI::App& root, const GlobalOptions& globals);
Command add_generate_command(CLI::App& root, const GlobalOptions& globals);
Command add_chat_command(CLI::App& root, const GlobalOptions& globals);
Command add_serve_command(CLI::App& root, const GlobalOptions& globals);
Command add_forward_command(CLI::App& root, const GlobalOptions& globals);
Command add_tokenize_command(CLI::App& root, const GlobalOptions& globals);
Command add_eval_command(CLI::App& root, const GlobalOptions& globals);
Command add_prune_command(CLI::App& root, const GlobalOptions& globals);
Command add_learn_command(CLI::App& root, const GlobalOptions& globals);
Command add_launch_command(CLI::App& root, const GlobalOptions& globals);
Command add_export_command(CLI::App& root, const GlobalOptions& globals);
Command add_inspect_command(CLI::App& root, const GlobalOptions& globals);
Command add_report_command(CLI::App& root, const GlobalOptions& globals);
Command add_bench_command(CLI::App& root, const GlobalOptions& globals);

}  // namespace patchlm::cli
