#pragma once
// `patchlm report RUN_DIR -o report.html`: one self-contained HTML page (inline SVG, no script, no network) about a
// run directory as `scripts/study.sh` / `make demo` leave it:
//   results.jsonl           → the sparsity–perplexity trade-off of every run, baselines included, and a table;
//   */metrics.jsonl         → learning curves (cross-entropy, sparsity, temperature) of every `patchlm learn` run;
//   *.masks.safetensors     → per mask: global sparsity, per-layer sparsity bars and per-layer tile maps
//                             (dense tiles, 2:4 tiles, other) for the layers the tile divides.
#include <filesystem>
#include <string>

#include "io/tiles.h"

namespace patchlm {

struct ReportContents {
  int results = 0, curves = 0, masks = 0, tile_maps = 0;  // what the page shows (for the command's summary)
};

// The page; Error when RUN_DIR is missing or holds none of the three kinds of files.
std::string render_report(const std::filesystem::path& run_dir, const TileShape& tile, ReportContents* contents);

}  // namespace patchlm
