#include "export/inspect.h"

#include "io/safetensors.h"
#include "model/checkpoint.h"
#include "util/error.h"

namespace patchlm {
namespace {

// Share of tiles in which every group of 4 keeps at most 2 weights (keep: bool [rows, cols]).
double sparse_tile_share(const at::Tensor& keep, const TileShape& t) {
  if (keep.size(0) % t.rows != 0 || keep.size(1) % t.cols != 0 || t.cols % 4 != 0) return -1;
  const std::int64_t R = keep.size(0) / t.rows, C = keep.size(1) / t.cols;
  const at::Tensor groups_ok = keep.reshape({keep.size(0), keep.size(1) / 4, 4}).sum(2).le(2);
  const at::Tensor per_tile = groups_ok.reshape({R, t.rows, C, t.cols / 4}).all(3).all(1);
  return per_tile.to(at::kFloat).mean().item<double>();
}

std::uint64_t size_on_disk(const std::filesystem::path& path) {
  if (!std::filesystem::is_directory(path)) return std::filesystem::file_size(path);
  std::uint64_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(path)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

bool is_projection(const std::string& name) {
  for (const char* p : {".q_proj.weight", ".k_proj.weight", ".v_proj.weight", ".o_proj.weight", ".gate_proj.weight",
                        ".up_proj.weight", ".down_proj.weight"}) {
    const std::string suffix = p;
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) return true;
  }
  return false;
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
                        sparse_tile_share(keep_tensor(m), tile)});
  }
  r.sparsity = global_sparsity(masks);
  return r;
}

InspectReport inspect_checkpoint(const std::filesystem::path& path, const TileShape& tile) {
  const Checkpoint ckpt = load_checkpoint(path);
  InspectReport r;
  r.kind = "checkpoint (" + ckpt.format + ", " + ckpt.config.model_type + ")";
  r.bytes_on_disk = size_on_disk(path);
  r.tensors = static_cast<std::int64_t>(ckpt.tensors.size());
  double kept = 0, total = 0;
  for (const auto& [name, w] : ckpt.tensors) {
    if (!is_projection(name) || w.dim() != 2) continue;
    const at::Tensor keep = w.ne(0);
    const double nonzero = keep.sum().item<double>();
    r.layers.push_back({name, std::string(c10::toString(w.scalar_type())), w.size(0), w.size(1),
                        1.0 - nonzero / static_cast<double>(w.numel()), sparse_tile_share(keep, tile)});
    kept += nonzero;
    total += static_cast<double>(w.numel());
  }
  r.sparsity = total > 0 ? 1.0 - kept / total : 0;
  return r;
}

}  // namespace patchlm
