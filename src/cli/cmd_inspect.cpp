// `patchlm inspect FILE [--tile-size 128x128] [--json]`: layers, shapes, dtypes, per-layer and global sparsity,
// share of 2:4 tiles per layer and size on disk, for a checkpoint (HF directory, GGUF) or a mask file.
#include <cstdio>
#include <iostream>

#include "cli/command.h"
#include <nlohmann/json.hpp>

#include "export/inspect.h"
#include "util/error.h"

namespace patchlm::cli {
namespace {

void print_markdown(const InspectReport& r, const std::string& path) {
  std::printf("%s: %s, %lld tensors, %.1f MB on disk\n\n", path.c_str(), r.kind.c_str(),
              static_cast<long long>(r.tensors), static_cast<double>(r.bytes_on_disk) / 1e6);
  std::printf("| layer | shape | dtype / encoding | sparsity | 2:4 tiles |\n|---|---|---|---|---|\n");
  for (const LayerReport& l : r.layers) {
    char tiles[32] = "-";
    if (l.two_four_tile_share >= 0) std::snprintf(tiles, sizeof tiles, "%.3f", l.two_four_tile_share);
    std::printf("| %s | %lldx%lld | %s | %.4f | %s |\n", l.name.c_str(), static_cast<long long>(l.rows),
                static_cast<long long>(l.cols), l.dtype.c_str(), l.sparsity, tiles);
  }
  std::printf("| **all %zu masked layers** | | | %.4f | |\n", r.layers.size(), r.sparsity);
  for (const auto& [k, v] : r.metadata) {
    if (k.rfind("encoding.", 0) != 0 && k.rfind("shape.", 0) != 0) std::printf("\n%s: %s", k.c_str(), v.c_str());
  }
  if (!r.metadata.empty()) std::printf("\n");
}

nlohmann::ordered_json to_json(const InspectReport& r) {
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  for (const LayerReport& l : r.layers) {
    layers.push_back({{"name", l.name}, {"rows", l.rows}, {"cols", l.cols}, {"dtype", l.dtype}, {"sparsity", l.sparsity},
                      {"two_four_tile_share", l.two_four_tile_share >= 0 ? nlohmann::ordered_json(l.two_four_tile_share) : nullptr}});
  }
  return {{"kind", r.kind}, {"tensors", r.tensors}, {"bytes_on_disk", r.bytes_on_disk}, {"sparsity", r.sparsity},
          {"layers", layers}, {"metadata", r.metadata}};
}

}  // namespace

Command add_inspect_command(CLI::App& root, const GlobalOptions&) {
  struct Options {
    std::string file, tile_size = "128x128";
    bool json = false;
  };
  auto o = std::make_shared<Options>();
  auto* app = root.add_subcommand("inspect", "What a checkpoint or mask file holds: layers, sparsity, 2:4 tiles, size");
  app->add_option("file", o->file, "HF model directory, GGUF file or mask file")->required();
  app->add_option("--tile-size", o->tile_size, "Tile shape for the share of 2:4 tiles")->capture_default_str();
  app->add_flag("--json", o->json, "Print JSON instead of a table");
  return {app, [o] {
            const TileShape tile = parse_tile_shape("--tile-size", o->tile_size);
            if (!std::filesystem::exists(o->file)) throw Error(str_cat(o->file, ": no such file or directory"));
            const InspectReport r = is_mask_file(o->file) ? inspect_mask_file(o->file, tile) : inspect_checkpoint(o->file, tile);
            if (o->json) {
              std::cout << to_json(r).dump(2) << "\n";
            } else {
              print_markdown(r, o->file);
            }
            return 0;
          }};
}

}  // namespace patchlm::cli
