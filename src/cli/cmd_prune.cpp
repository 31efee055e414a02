// `patchlm prune MODEL --method sparsegpt --pattern 2:4 --calib CORPUS --out masks.safetensors [--save-pruned DIR]`:
// one-shot masks for every q/k/v/o/gate/up/down projection (magnitude; Wanda and SparseGPT with sequential
// calibration), a per-layer sparsity table, the mask file, and optionally a normal HF checkpoint with the pruned
// (for SparseGPT: reconstructed) weights.
#include <chrono>
#include <cstdio>

#include "cli/command.h"
#include "cli/options.h"
#include "data/sampling.h"
#include "data/token_file.h"
#include "io/mask_file.h"
#include "io/safetensors.h"
#include "model/fingerprint.h"
#include "prune/calibration.h"
#include "model/masks.h"
#include "prune/one_shot.h"
#include "model/masks.h"
#include "util/error.h"
#include "util/exact_decimal.h"
#include "util/output_paths.h"
#include "util/log.h"

namespace patchlm::cli {
namespace {

struct PruneOptions {
  std::string model, tokenizer, method = "magnitude", pattern = "2:4", out, save_pruned, save_dtype = "f32";
  std::string dtype = "f32", device = "cpu", calib, calib_ids, calib_split = "train", tile_map, tile_size = "128x128";
  double sparsity = 0.5;
  bool sparsity_given = false;
  std::int64_t calib_samples = 128, calib_seq_len = 2048;
  std::uint64_t seed = 0;
  OneShotOptions one_shot;
};

// The dense tiles of every layer of a mask file (e.g. a PATCH result), as element-level always-keep masks.
std::map<std::string, at::Tensor> dense_layout(const std::string& file, const TileShape& tile, Decoder& model) {
  MaskSet layout = read_mask_file(file);
  std::map<std::string, at::Tensor> keep;
  for (Proj* p : model.projections()) {
    const LayerMask& m = mask_for(layout, *p, file);
    std::vector<std::uint8_t> dense;
    for (TileKind k : classify_tiles(m.keep.data(), m.rows, m.cols, tile, p->name())) dense.push_back(k == TileKind::dense);
    const at::Tensor grid = at::from_blob(dense.data(), {m.rows / tile.rows, m.cols / tile.cols}, at::kByte).to(at::kBool);
    keep[p->name() + ".weight"] = expand_tiles(grid, tile);
  }
  return keep;
}

at::Tensor calibration_ids(const PruneOptions& o) {
  if (!o.calib_ids.empty()) return token_tensor(read_token_file(o.calib_ids));
  Tokenizer tok = Tokenizer::from_model(o.tokenizer.empty() ? o.model : o.tokenizer);
  SampleOptions s;
  s.corpus = o.calib.empty() ? default_corpus_path() : std::filesystem::path(o.calib);
  s.split = parse_split(o.calib_split);
  s.count = o.calib_samples;
  s.seq_len = o.calib_seq_len;
  s.seed = o.seed;
  at::Tensor ids = token_tensor(sample_sequences(tok, s));
  log_info("calibration", {{"corpus", s.corpus.string()}, {"sequences", s.count}, {"seq_len", s.seq_len}});
  return ids;
}

void print_table(const MaskSet& masks, double sparsity) {
  std::printf("| layer | shape | sparsity |\n|---|---|---|\n");
  for (const auto& [name, m] : masks.layers) {
    std::printf("| %s | %lldx%lld | %.4f |\n", name.c_str(), static_cast<long long>(m.rows),
                static_cast<long long>(m.cols), m.sparsity());
  }
  std::printf("| **all %zu projections** | | %.4f |\n", masks.layers.size(), sparsity);
}

int run_prune(PruneOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  o.one_shot.method = parse_prune_method(o.method);
  o.one_shot.pattern = parse_pattern(o.pattern, o.sparsity);
  if (o.sparsity_given && o.one_shot.pattern.nm &&
      std::abs(o.sparsity - (1.0 - static_cast<double>(o.one_shot.pattern.n) / static_cast<double>(o.one_shot.pattern.m))) > 1e-9)
    throw UsageError(str_cat("--sparsity: ", o.sparsity, " contradicts --pattern ", o.pattern,
                             ", which fixes the sparsity itself (--sparsity applies to unstructured)"));
  const auto dtype = parse_compute_dtype("--dtype", o.dtype);
  const auto save_dtype = parse_compute_dtype("--save-dtype", o.save_dtype);
  const c10::Device device = parse_device("--device", o.device);
  const TileShape tile = parse_tile_shape("--tile-size", o.tile_size);
  if (!o.tile_map.empty() && !o.one_shot.pattern.nm) throw UsageError("--tile-map combines only with an N:M --pattern");
  parse_split(o.calib_split);
  const std::vector<std::filesystem::path> inputs = {o.model, o.tile_map, o.calib_ids, o.calib};
  check_output_file(o.out, "--out", inputs);
  if (!o.save_pruned.empty()) check_new_output_dir(o.save_pruned, "--save-pruned", inputs);

  at::Tensor calib = needs_calibration(o.one_shot.method) ? calibration_ids(o) : at::Tensor();
  Checkpoint ckpt = load_checkpoint(o.model);
  const std::string fingerprint = checkpoint_fingerprint(ckpt);
  Decoder model(ckpt, dtype, device);  // validates names and shapes against the config
  if (calib.defined() && (calib.min().item<std::int64_t>() < 0 || calib.max().item<std::int64_t>() >= ckpt.config.vocab_size)) {
    throw Error(str_cat("calibration ids must lie in [0, ", ckpt.config.vocab_size, ") for ", o.model));
  }
  if (!o.tile_map.empty()) o.one_shot.always_keep = dense_layout(o.tile_map, tile, model);

  MaskSet masks = prune_one_shot(model, calib, o.one_shot);
  const double sparsity = global_sparsity(masks);
  print_table(masks, sparsity);
  masks.metadata = {{"method", o.method}, {"pattern", o.one_shot.pattern.name()}, {"sparsity", exact_decimal(sparsity)},
                    {"source_model", o.model}, {"source_model_hash", fingerprint},
                    {"weights_reconstructed", o.one_shot.method == PruneMethod::sparsegpt ? "true" : "false"}};
  if (needs_calibration(o.one_shot.method)) {
    masks.metadata["calibration"] =
        !o.calib_ids.empty() ? str_cat(calib.size(0), "x", calib.size(1), " tokens from ", o.calib_ids)
                             : str_cat(calib.size(0), "x", calib.size(1), " tokens from ",
                                       o.calib.empty() ? default_corpus_path().string() : o.calib, " (",
                                       o.calib_split, " split, seed ", o.seed, ")");
  }
  if (!o.tile_map.empty()) masks.metadata["tile_map"] = str_cat(o.tile_map, " (tile ", tile.name(), ")");
  write_mask_file(o.out, masks);
  if (!o.save_pruned.empty()) {
    for (Proj* p : model.projections()) ckpt.tensors[p->name() + ".weight"] = p->weight().to(at::kCPU);
    save_hf_checkpoint(ckpt, o.save_pruned, save_dtype, 5'000'000'000ull);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log_info("pruned", {{"method", o.method}, {"seconds", seconds}, {"out", o.out}});
  return 0;
}

}  // namespace

Command add_prune_command(CLI::App& root, const GlobalOptions&) {
  auto o = std::make_shared<PruneOptions>();
  auto* app = root.add_subcommand("prune", "One-shot pruning masks (magnitude, Wanda, SparseGPT) for every linear projection");
  app->add_option("model", o->model, "HF model directory or GGUF file")->required();
  app->add_option("--method", o->method, "magnitude, wanda or sparsegpt")->capture_default_str();
  app->add_option("--pattern", o->pattern, "2:4, any N:M, or unstructured")->capture_default_str();
  app->add_option("--sparsity", o->sparsity, "Fraction pruned per row for unstructured")
      ->capture_default_str()
      ->each([o](const std::string&) { o->sparsity_given = true; });
  app->add_option("--out", o->out, "Mask file to write (docs/masks.md)")->required();
  app->add_option("--save-pruned", o->save_pruned, "Also write a HF checkpoint with the pruned weights (zeros; SparseGPT's reconstructed values)");
  app->add_option("--save-dtype", o->save_dtype, "dtype of --save-pruned: f32, bf16, f16")->capture_default_str();
  app->add_option("--dtype", o->dtype, "Compute dtype of the calibration forward: f32, bf16")->capture_default_str();
  app->add_option("--device", o->device, "cpu, cuda or cuda:N")->capture_default_str();
  app->add_option("--tokenizer", o->tokenizer, "Tokenizer source when MODEL has none");
  app->add_option("--calib", o->calib, "Calibration corpus: text file or folder (default: python-docs)");
  app->add_option("--calib-ids", o->calib_ids, "Pre-tokenized calibration sequences instead: safetensors with input_ids I64 [N, T]");
  app->add_option("--calib-split", o->calib_split, "Corpus split for calibration")->capture_default_str();
  app->add_option("--calib-samples", o->calib_samples, "Calibration sequences")->capture_default_str();
  app->add_option("--calib-seq-len", o->calib_seq_len, "Tokens per calibration sequence")->capture_default_str();
  app->add_option("--calib-batch", o->one_shot.calibration.batch, "Sequences per forward pass")->capture_default_str();
  app->add_option("--seed", o->seed, "Seed of the calibration sampler")->capture_default_str();
  app->add_option("--dampening", o->one_shot.sparsegpt.dampening, "SparseGPT: fraction of mean(diag H) added to H")->capture_default_str();
  app->add_option("--block-size", o->one_shot.sparsegpt.block_size, "SparseGPT: columns per lazy-update block")->capture_default_str();
  app->add_option("--tile-map", o->tile_map, "Mask file whose fully kept tiles stay dense (N:M applied in the others)");
  app->add_option("--tile-size", o->tile_size, "Tile shape for --tile-map")->capture_default_str();
  return {app, [o] { return run_prune(*o); }};
}

}  // namespace patchlm::cli
