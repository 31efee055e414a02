#include "export/inspect.h"

#include "io/mask_file.h"
#include "io/safetensors.h"
#include "model/checkpoint.h"
#include "util/error.h"

namespace patchlm {
namespace {

// Share of 2:4 tiles of a keep-mask [rows, cols] (1 = kept), -1 when the tile does not divide it.
double tile_share(const std::uint8_t* keep, std::int64_t rows, std::int64_t cols, const TileShape& t,
                  const std::string& name) {
  if (!tiles_divide(rows, cols, t)) return -1;
  return two_four_tile_share(classify_tiles(keep, rows, cols, t, name));
}

std::uint64_t size_on_disk(const std::filesystem::path& path) {
  if (!std::filesystem::is_directory(path)) return std::filesystem::file_size(path);
  std::uint64_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(path)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

}  // namespace

bool is_mask_file(const std::filesystem::path& path) {
  if (std::filesystem::is_directory(path) || path.extension() != ".safetensors") return false;
  const SafetensorsFile f = SafetensorsFile::open(path);
  auto it = f.header().metadata.find("format");
  return it != f.header().metadata.end() && it->second == "patchlm-mask";
}

InspectReport inspect_mask_file(const std::filesystem::path& path, const TileShape& tile) {
  const MaskSet masks = read_mask_file(path);
  InspectReport r;
  r.kind = "mask file";
  r.metadata = masks.metadata;
  r.bytes_on_disk = size_on_disk(path);
  r.tensors = static_cast<std::int64_t>(masks.layers.size());
  for (const auto& [name, m] : masks.layers) {
    r.layers.push_back({name, is_2to4(m) ? "2:4 indices" : "bits", m.rows, m.cols, m.sparsity(),
                        tile_share(m.keep.data(), m.rows, m.cols, tile, name)});
  }
  r.sparsity = global_sparsity(masks);
  return r;
}

InspectReport inspect_checkpoint(const std::filesystem::path& path, const TileShape& tile) {
  Checkpoint ckpt = load_checkpoint(path);
  ckpt.unpack_hybrid();
  InspectReport r;
  r.kind = "checkpoint (" + ckpt.format + ", " + ckpt.config.model_type + ")";
  r.bytes_on_disk = size_on_disk(path);
  r.tensors = static_cast<std::int64_t>(ckpt.tensors.size());
  double kept = 0, total = 0;
  for (const auto& [name, w] : ckpt.tensors) {
    if (!is_projection_weight(name) || w.dim() != 2) continue;
    const at::Tensor keep = w.ne(0).to(at::kByte).contiguous();
    const double nonzero = keep.sum().item<double>();
    r.layers.push_back({name, std::string(c10::toString(w.scalar_type())), w.size(0), w.size(1),
                        1.0 - nonzero / static_cast<double>(w.numel()),
                        tile_share(keep.data_ptr<std::uint8_t>(), w.size(0), w.size(1), tile, name)});
    kept += nonzero;
    total += static_cast<double>(w.numel());
  }
  r.sparsity = total > 0 ? 1.0 - kept / total : 0;
  return r;
}

}  // namespace patchlm
