// `patchlm report RUN_DIR -o report.html [--tile-size 128x128]`: one self-contained HTML page about a run directory
// (export/report.h): the sparsity–perplexity trade-off, learning curves, per-layer sparsity and tile maps.
#include <iostream>

#include "cli/command.h"
#include "export/report.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/output_paths.h"

namespace patchlm::cli {

Command add_report_command(CLI::App& root, const GlobalOptions&) {
  struct Options {
    std::string run_dir, out, tile = "128x128";
  };
  auto o = std::make_shared<Options>();
  auto* app = root.add_subcommand("report", "Write an HTML report (inline SVG, no network) of a run directory");
  app->add_option("run_dir", o->run_dir, "Directory of a study / demo run (results.jsonl, */metrics.jsonl, masks)")
      ->required();
  app->add_option("-o,--out", o->out, "Output .html file")->required();
  app->add_option("--tile-size", o->tile, "Tile shape of the tile maps")->capture_default_str();
  return {app, [o] {
            const TileShape tile = parse_tile_shape("--tile-size", o->tile);
            check_output_file(o->out, "--out", {o->run_dir});
            ReportContents c;
            const std::string html = render_report(o->run_dir, tile, &c);
            write_file_atomic(o->out, html);
            std::cout << "wrote " << o->out << ": " << c.results << " results, " << c.curves << " learning runs, "
                      << c.masks << " mask files, " << c.tile_maps << " tile maps\n";
            return 0;
          }};
}

}  // namespace patchlm::cli
