#include "learn/session.h"

#include <fstream>

#include "data/sampling.h"
#include "io/tokenizer/tokenizer.h"
#include "model/fingerprint.h"
#include "prune/calibration.h"
#include "util/error.h"
#include "util/atomic_file.h"
#include "util/json_io.h"
#include "util/log.h"

namespace patchlm {

void truncate_metrics(const std::filesystem::path& file, std::int64_t step) {
  if (!std::filesystem::exists(file)) return;
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  in.close();
  std::map<std::int64_t, std::string> by_step;  // one line per step: a step logged twice keeps its last line
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(lines[i]);
    } catch (const nlohmann::json::exception&) {
      if (i + 1 == lines.size()) {  // a torn last line: the run was killed while appending it
        log_warn("metrics", {{"file", file.string()}, {"note", str_cat("dropped a torn last line (line ", i + 1, ")")}});
        continue;
      }
      throw Error(str_cat(file.string(), " line ", i + 1, ": not a JSON object (the metrics log is corrupted)"));
    }
    if (!j.is_object() || !j.contains("step") || !j["step"].is_number_integer())
      throw Error(str_cat(file.string(), " line ", i + 1, ": no integer 'step'"));
    const std::int64_t s = j["step"].get<std::int64_t>();
    if (s <= step) by_step[s] = lines[i];
  }
  std::string kept;
  for (const auto& [s, line] : by_step) kept += line + "\n";
  write_file_atomic(file, kept);
}

LearnSession prepare_learning(const LearnRequest& r) {
  LearnSession s;
  TrainerOptions t = r.trainer;
  validate(t);
  if (r.resume && t.checkpoint_dir.empty()) throw UsageError("--resume needs --checkpoint-dir");
  if (r.seq_len < 2) throw UsageError(str_cat("--seq-len: must be at least 2, got ", r.seq_len));
  if (!t.checkpoint_dir.empty() && !r.resume && std::filesystem::exists(t.checkpoint_dir / "learn_state.safetensors")) {
    throw Error(str_cat("--checkpoint-dir ", t.checkpoint_dir.string(),
                        " already holds a checkpoint (pass --resume, or choose another folder)"));
  }
  Tokenizer tok = Tokenizer::from_model(r.tokenizer.empty() ? r.model : r.tokenizer);
  SampleOptions data;
  data.corpus = r.data.empty() ? default_corpus_path() : r.data;
  data.split = parse_split(r.split);
  data.count = 0;
  data.random_offsets = false;
  data.seq_len = r.seq_len;
  s.sequences = sample_sequences(tok, data);
  if (r.max_sequences > 0 && static_cast<std::int64_t>(s.sequences.size()) > r.max_sequences) {
    s.sequences.resize(static_cast<std::size_t>(r.max_sequences));
  }
  log_info("data", {{"corpus", data.corpus.string()}, {"sequences", s.sequences.size()}, {"seq_len", r.seq_len}});

  s.checkpoint = load_checkpoint(r.model);
  const std::string fingerprint = checkpoint_fingerprint(s.checkpoint);
  s.model = std::make_unique<Decoder>(s.checkpoint, r.dtype, r.device);
  if (t.mode != MaskMode::maskllm) {
    for (Proj* p : s.model->projections()) check_tiles_divide(p->name(), p->out_features(), p->in_features(), t.init.tile);
  }
  auto calibration = [&] {
    SampleOptions c;
    c.corpus = data.corpus;
    c.split = data.split;
    c.count = r.calib_samples;
    c.seq_len = r.calib_seq_len;
    c.seed = t.seed;
    return token_tensor(sample_sequences(tok, c));
  };
  const double target = t.loss.target_sparsity;
  // A resumed run's logits come from its checkpoint: only PATCH^Tile's fixed 2:4 prior is still needed.
  PriorSpec prior = r.prior;
  if (r.resume) prior.tile_prior = "none";
  if (!r.resume || t.mode == MaskMode::tile) {
    s.priors = build_priors(s.checkpoint, *s.model, t.mode, target, prior, calibration);
  }
  t.run_identity = {{"model_hash", fingerprint}, {"seq_len", str_cat(r.seq_len)}, {"data", data.corpus.string()},
                    {"split", r.split}, {"sequences", str_cat(s.sequences.size())}, {"dtype", c10::toString(r.dtype)},
                    {"prior", r.prior.prior_2to4}, {"tile_prior", r.prior.tile_prior}};
  s.mask_metadata = {{"method", str_cat("patch-", mode_name(t.mode))}, {"mode", mode_name(t.mode)},
                     {"target_sparsity", str_cat(target)}, {"pattern", "hybrid 2:4 / dense tiles"},
                     {"tile", t.init.tile.name()}, {"prior", r.prior.prior_2to4}, {"tile_prior", r.prior.tile_prior},
                     {"steps", str_cat(t.steps)}, {"batch", str_cat(t.batch)}, {"seq_len", str_cat(r.seq_len)},
                     {"seed", str_cat(t.seed)}, {"source_model", r.model}, {"source_model_hash", fingerprint}};
  if (t.mode == MaskMode::maskllm) s.mask_metadata["pattern"] = "2:4";
  // Created only now: a run that fails while loading leaves no empty checkpoint directory behind.
  if (!t.checkpoint_dir.empty()) std::filesystem::create_directories(t.checkpoint_dir);
  s.trainer = t;
  return s;
}

}  // namespace patchlm
