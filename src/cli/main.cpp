// patchlm — command-line entry point. Parses, applies global options, runs one subcommand, and turns every
// failure into one line `patchlm: error: ...` with exit code 2 (usage) or 1 (runtime).
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <thread>
#include <new>
#include <vector>

#include "cli/command.h"
#include "util/error.h"
#include "util/interrupt.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/version.h"

namespace {

using patchlm::cli::Command;
using patchlm::cli::GlobalOptions;

constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

int print_error(const std::string& message, int code) {
  // One line: keep only the first line of multi-line library messages.
  std::string first = message.substr(0, message.find('\n'));
  std::cerr << "patchlm: error: " << first << "\n";
  return code;
}

void apply_globals(const GlobalOptions& g) {
  patchlm::set_log_level(patchlm::parse_log_level(g.log_level));
  patchlm::set_log_format(patchlm::parse_log_format(g.log_format));
  patchlm::Progress::set_quiet(g.quiet);
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (g.threads < 0 || g.threads > 4 * cores)
    throw patchlm::UsageError(patchlm::str_cat("--threads: must be in 0..", 4 * cores, " (4 x the ", cores, " cores), got ", g.threads));
  if (g.threads > 0) at::set_num_threads(g.threads);
}

int run_guarded(const std::function<int()>& action) {
  try {
    return action();
  } catch (const patchlm::UsageError& e) {
    return print_error(e.what(), kExitUsage);
  } catch (const patchlm::Error& e) {
    return print_error(e.what(), kExitRuntime);
  } catch (const c10::Error& e) {
    return print_error(e.what_without_backtrace(), kExitRuntime);
  } catch (const std::bad_alloc&) {
    return print_error("out of memory", kExitRuntime);
  } catch (const std::filesystem::filesystem_error& e) {  // a path the user gave: its name and the system's reason
    return print_error(e.what(), kExitRuntime);
  } catch (const std::exception& e) {
    return print_error(std::string("internal error: ") + e.what(), kExitRuntime);
  }
}

}  // namespace

int main(int argc, char** argv) {
  patchlm::install_interrupt_handling();  // before any other thread exists
  CLI::App app{"patchlm — learnable tile-level hybrid sparsity (PATCH) for LLMs", "patchlm"};
  app.set_version_flag("--version", std::string("patchlm ") + patchlm::version());
  app.set_help_all_flag("--help-all", "Print help for every subcommand and exit");

  GlobalOptions globals;
  globals.argc = argc;
  globals.argv = argv;
  app.add_option("--log-level", globals.log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();
  app.add_option("--log-format", globals.log_format, "text or json (one object per line)")->capture_default_str();
  app.add_flag("-q,--quiet", globals.quiet, "No progress bars");
  app.add_option("--threads", globals.threads, "CPU threads for LibTorch (0 = all cores)")->capture_default_str();
  app.require_subcommand(0, 1);
  app.fallthrough();  // global options are accepted after the subcommand name too

  std::vector<Command> commands = {
      patchlm::cli::add_info_command(app, globals),
      patchlm::cli::add_convert_command(app, globals),
      patchlm::cli::add_generate_command(app, globals),
      patchlm::cli::add_chat_command(app, globals),
      patchlm::cli::add_serve_command(app, globals),
      patchlm::cli::add_forward_command(app, globals),
      patchlm::cli::add_tokenize_command(app, globals),
      patchlm::cli::add_eval_command(app, globals),
      patchlm::cli::add_prune_command(app, globals),
      patchlm::cli::add_learn_command(app, globals),
      patchlm::cli::add_launch_command(app, globals),
      patchlm::cli::add_export_command(app, globals),
      patchlm::cli::add_inspect_command(app, globals),
      patchlm::cli::add_report_command(app, globals),
      patchlm::cli::add_bench_command(app, globals),
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --help-all, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return print_error(std::string(e.what()) + " (see 'patchlm --help')", kExitUsage);
  }

  return run_guarded([&] {
    apply_globals(globals);
    for (const Command& cmd : commands) {
      if (cmd.app->parsed()) return cmd.run();
    }
    std::cerr << app.help();
    return kExitUsage;  // no subcommand: show what exists
  });
}
