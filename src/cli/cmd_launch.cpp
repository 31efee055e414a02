// `patchlm launch --nproc N [--master-addr A] [--master-port P] -- COMMAND ...`: torchrun's one-host job without
// Python (util/launcher.h) — e.g. `patchlm launch --nproc 8 -- learn MODEL --device cuda ...` (docs/distributed.md).
#include <iostream>

#include "cli/command.h"
#include "util/error.h"
#include "util/launcher.h"

namespace patchlm::cli {

Command add_launch_command(CLI::App& root, const GlobalOptions&) {
  auto spec = std::make_shared<LaunchSpec>();
  auto* app = root.add_subcommand("launch", "Run a patchlm command as N ranks on this host (torchrun's variables), e.g. learn");
  app->add_option("--nproc", spec->nproc, "Processes (ranks), one per GPU")->required();
  app->add_option("--master-addr", spec->master_addr, "Rendezvous address")->capture_default_str();
  app->add_option("--master-port", spec->master_port, "Rendezvous port")->capture_default_str()->check(CLI::Range(1, 65535));
  // Everything after `--` is the command each rank runs (its own options are not launch's).
  app->add_option("command", spec->args, "-- then the patchlm command every rank runs, e.g. -- learn MODEL ...");
  return {app, [spec] {
            spec->executable = "/proc/self/exe";
            const LaunchResult r = launch_local_ranks(*spec);
            if (r.failed_rank >= 0) {
              std::cerr << "patchlm launch: rank " << r.failed_rank << " of " << spec->nproc << " exited with code "
                        << r.exit_code << "; the other ranks were stopped\n";
            }
            return r.exit_code;
          }};
}

}  // namespace patchlm::cli
