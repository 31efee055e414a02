#include "export/hybrid_export.h"

#include <cstring>
#include <numeric>
#include <list>

#include "model/masks.h"
#include "io/hybrid_file.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace patchlm {
namespace {

bool tile_divides(const at::Tensor& w, const TileShape& tile) { return tiles_divide(w.size(0), w.size(1), tile); }

}  // namespace

HybridExportSummary export_hybrid(const Checkpoint& ckpt, const MaskSet& masks, const std::string& source,
                                  const std::filesystem::path& out_dir, const TileShape& tile) {
  check_packable_tile(tile, "--tile-size");
  check_masks_match(ckpt, masks, source);
  // A tile that divides no masked weight would pack nothing: refuse, naming a tile that divides them all.
  bool any = false;
  std::int64_t common_rows = 0, common_cols = 0;
  for (const auto& [name, m] : masks.layers) {
    any = any || tiles_divide(m.rows, m.cols, tile);
    common_rows = std::gcd(common_rows, m.rows);
    common_cols = std::gcd(common_cols, m.cols);
  }
  if (!any) {
    std::string hint = "no packable tile divides them all";
    for (const TileShape t : {TileShape{128, 128}, TileShape{128, 64}, TileShape{64, 128}, TileShape{64, 64}})
      if (common_rows % t.rows == 0 && common_cols % t.cols == 0) {
        hint = "try --tile-size " + t.name();
        break;
      }
    throw UsageError(str_cat("--tile-size: ", tile.name(), " divides none of the ", masks.layers.size(),
                             " masked weights, so nothing would be packed (", hint, ")"));
  }
  HybridExportSummary summary;
  std::list<at::Tensor> tensors_alive;                  // what the spans below point into
  std::list<hybrid::PackedHybrid> packed_alive;
  std::vector<TensorToWrite> out;
  double two_four_tiles = 0, tiles = 0;
  for (const auto& [name, t] : ckpt.tensors) {
    auto mask = masks.layers.find(name);
    at::Tensor w = t.is_floating_point() ? t.to(at::kBFloat16).contiguous() : t.contiguous();
    if (mask == masks.layers.end()) {
      out.push_back(tensor_to_write(name, tensors_alive.emplace_back(w)));
      continue;
    }
    if (!tile_divides(w, tile)) {  // stays dense, pruned weights zero
      at::Tensor dense = masked_weight(t, mask->second).to(at::kBFloat16).contiguous();
      out.push_back(tensor_to_write(name, tensors_alive.emplace_back(dense)));
      ++summary.stored_dense;
      continue;
    }
    TileGrid grid{w.size(0), w.size(1), tile};
    const auto* bits = static_cast<const std::uint16_t*>(w.data_ptr());
    hybrid::PackedHybrid& p = packed_alive.emplace_back(hybrid::pack(bits, mask->second.keep.data(), grid));
    for (TensorToWrite& part : hybrid_parts(name, p)) out.push_back(part);
    ++summary.packed;
    summary.packed_bytes += p.data.size();
    summary.dense_bytes += static_cast<std::uint64_t>(w.nbytes());
    two_four_tiles += p.two_four_tile_share() * static_cast<double>(grid.tile_count());
    tiles += static_cast<double>(grid.tile_count());
  }
  summary.two_four_tile_share = tiles > 0 ? two_four_tiles / tiles : 0;

  std::map<std::string, std::string> metadata = hybrid_metadata(tile);
  for (const char* key : {"method", "pattern", "sparsity", "source_model_hash"})
    if (masks.metadata.count(key)) metadata[std::string("mask_") + key] = masks.metadata.at(key);
  AtomicDirectory dir(out_dir);
  write_safetensors(dir.path() / kHybridFileName, out, metadata);
  write_model_files(ckpt, dir.path());
  dir.commit();
  return summary;
}

}  // namespace patchlm
