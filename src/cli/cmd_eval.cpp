// `patchlm eval MODEL`: perplexity on a corpus split (default: the held-out test split of the python-docs corpus),
// a markdown table on stdout and every number in a JSON file (--out).
#include <chrono>
#include <cstdio>
#include <algorithm>
#include <iostream>
#include <sstream>

#include "cli/command.h"
#include "kernels/hybrid_model.h"
#include "cli/options.h"
#include "data/corpus.h"
#include "eval/perplexity.h"
#include "eval/task_eval.h"
#include "io/mask_file.h"
#include "io/tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/output_paths.h"
#include "util/json_io.h"
#include "util/log.h"

namespace patchlm::cli {

using kernels::load_model;
namespace {

template <typename Options>
nlohmann::ordered_json run_perplexity(const Options& o, const Tokenizer& tok, const Decoder& model) {
  const EvaluationText text = evaluation_text(tok, o.corpus, o.split);
  log_info("perplexity", {{"documents", text.documents}, {"tokens", text.ids.size()}, {"seq_len", o.ppl.seq_len}});
  auto t0 = std::chrono::steady_clock::now();
  PerplexityResult r = perplexity(model, text.ids, o.ppl);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("| corpus | split | seq_len | windows | tokens scored | PPL |\n|---|---|---|---|---|---|\n");
  std::printf("| %s | %s | %lld | %lld | %lld | %.4f |\n\n", text.corpus.string().c_str(), split_name(text.split),
              static_cast<long long>(o.ppl.seq_len), static_cast<long long>(r.windows),
              static_cast<long long>(r.tokens_scored), r.ppl());
  return {{"corpus", text.corpus.string()}, {"split", split_name(text.split)}, {"documents", text.documents},
          {"seq_len", o.ppl.seq_len}, {"stride", o.ppl.stride}, {"windows", r.windows},
          {"tokens_total", r.tokens_total}, {"tokens_scored", r.tokens_scored}, {"nll_sum", r.nll_sum},
          {"mean_nll", r.mean_nll()}, {"ppl", r.ppl()}, {"seconds", seconds},
          {"tokens_per_second", static_cast<double>(r.windows * o.ppl.seq_len) / seconds}};
}

nlohmann::ordered_json run_tasks(const std::vector<std::string>& names, const std::string& dir, std::int64_t limit,
                                 const Tokenizer& tok, const Decoder& model, std::int64_t max_length) {
  LoglikelihoodScorer scorer(model, tok, max_length);
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  std::printf("| task | docs | acc | acc_norm |\n|---|---|---|---|\n");
  const TaskSuiteResult suite = evaluate_tasks(names, dir, limit, scorer, [&](const TaskResult& r) {
    const bool norm = task_has_acc_norm(r.task);
    char norm_text[32] = "-";
    if (norm) std::snprintf(norm_text, sizeof norm_text, "%.4f", r.acc_norm);
    std::printf("| %s | %lld | %.4f | %s |\n", r.task.c_str(), static_cast<long long>(r.docs), r.acc, norm_text);
    out[r.task] = {{"docs", r.docs}, {"acc", r.acc}, {"acc_norm", norm ? nlohmann::ordered_json(r.acc_norm) : nullptr},
                   {"gold", r.gold}, {"logliks", r.logliks}};
  });
  std::printf("| **average (%zu tasks)** | | %.4f | %.4f |\n", names.size(), suite.mean_acc, suite.mean_acc_norm);
  out["average"] = {{"tasks", names.size()}, {"acc", suite.mean_acc}, {"acc_norm_where_defined_else_acc", suite.mean_acc_norm}};
  return out;
}

}  // namespace

Command add_eval_command(CLI::App& root, const GlobalOptions& globals) {
  struct Options {
    std::string model, tokenizer, corpus, split, dtype = "auto", device = "cpu", out, tasks, task_dir, masks;
    std::int64_t limit = 0;
    bool ppl_too = false;
    PerplexityOptions ppl;
  };
  auto o = std::make_shared<Options>();
  o->ppl.seq_len = 0;
  auto* app = root.add_subcommand("eval", "Perplexity (SparseGPT/Wanda/PATCH protocol) or zero-shot tasks (lm-eval style)");
  app->add_option("model", o->model, "HF model directory or GGUF file")->required();
  app->add_option("--tokenizer", o->tokenizer, "Tokenizer source when MODEL has none (e.g. the GGUF a pruned checkpoint came from)");
  app->add_option("--corpus", o->corpus, "Text file or folder (txt, md, rst, jsonl; wiki.test.raw); default: python-docs");
  app->add_option("--split", o->split,
                  "train, validation, test or all (deterministic split by document; default: test for folders and "
                  "jsonl, all for a single text file such as wiki.test.raw)");
  app->add_option("--seq-len", o->ppl.seq_len, "Window length (default: the model's context, at most 4096)");
  app->add_option("--stride", o->ppl.stride, "Sliding-window stride (default: non-overlapping windows)");
  app->add_option("--batch", o->ppl.batch, "Windows per forward pass")->capture_default_str();
  app->add_option("--max-windows", o->ppl.max_windows, "Evaluate at most this many windows (0 = all)")->capture_default_str();
  app->add_option("--dtype", o->dtype, "Compute dtype: auto (bf16 for a hybrid checkpoint on CUDA, else f32), f32, bf16")->capture_default_str();
  app->add_option("--device", o->device, "cpu, cuda or cuda:N")->capture_default_str();
  app->add_option("--masks", o->masks, "Apply this mask file (patchlm prune / learn) to the weights first");
  app->add_option("--out", o->out, "Write the results as JSON here");
  app->add_option("--tasks", o->tasks, "Zero-shot tasks instead of perplexity: comma list or 'all' (piqa, arc_easy, "
                                       "arc_challenge, winogrande, openbookqa, race, hellaswag, mmlu)");
  app->add_option("--task-dir", o->task_dir, "Folder with <task>.jsonl files (or mmlu/*.jsonl) in the public field layouts");
  app->add_option("--limit", o->limit, "At most this many documents per task (0 = all)")->capture_default_str();
  app->add_flag("--ppl", o->ppl_too, "With --tasks: also compute perplexity");
  return {app, [o, app, &globals] {
            const auto dtype = parse_model_dtype("--dtype", o->dtype);
            const c10::Device device = parse_device("--device", o->device);
            if (app->count("--seq-len") && o->ppl.seq_len <= 0)
              throw UsageError(str_cat("--seq-len: must be positive, got ", o->ppl.seq_len));
            if (app->count("--tasks") && o->tasks.empty()) throw UsageError("--tasks: no task named (a comma list, or all)");
            std::vector<std::string> task_names;
            if (!o->tasks.empty()) {
              if (o->task_dir.empty()) throw UsageError("--tasks needs --task-dir (no data set is downloaded)");
              task_names = parse_task_list(o->tasks);
            }
            if (!o->out.empty()) check_output_file(o->out, "--out", {o->model, o->masks, o->corpus, o->tokenizer});
            auto t0 = std::chrono::steady_clock::now();
            Tokenizer tok = Tokenizer::from_model(o->tokenizer.empty() ? o->model : o->tokenizer);
            auto loaded = load_model(o->model, dtype, device, o->masks);
            Decoder& model = *loaded;
            const std::int64_t context = std::min<std::int64_t>(model.config().max_position_embeddings, 4096);
            if (o->ppl.seq_len == 0) o->ppl.seq_len = context;
            if (o->ppl.seq_len > model.config().max_position_embeddings)
              log_warn("eval", {{"seq_len", o->ppl.seq_len}, {"context", model.config().max_position_embeddings},
                                {"note", "windows longer than the model's context: positions it was never trained on"}});
            nlohmann::ordered_json j;
            j["meta"] = run_metadata(globals.argc, globals.argv);
            j["model"] = o->model;
            if (!o->masks.empty()) j["masks"] = o->masks;
            j["dtype"] = c10::toString(model.dtype());
            if (task_names.empty() || o->ppl_too) j["perplexity"] = run_perplexity(*o, tok, model);
            if (!task_names.empty()) j["tasks"] = run_tasks(task_names, o->task_dir, o->limit, tok, model, context);
            j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            if (!o->out.empty()) write_json_file(o->out, j);
            return 0;
          }};
}

}  // namespace patchlm::cli
