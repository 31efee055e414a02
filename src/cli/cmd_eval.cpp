// `patchlm eval MODEL`: perplexity on a corpus split (default: the held-out test split of the python-docs corpus),
// a markdown table on stdout and every number in a JSON file (--out).
#include <chrono>
#include <cstdio>
#include <iostream>

#include "cli/command.h"
#include "cli/options.h"
#include "data/corpus.h"
#include "eval/perplexity.h"
#include "io/tokenizer/tokenizer.h"
#include "util/json_io.h"
#include "util/log.h"

namespace patchlm::cli {

Command add_eval_command(CLI::App& root, const GlobalOptions& globals) {
  struct Options {
    std::string model, corpus, split = "test", dtype = "f32", out;
    PerplexityOptions ppl;
  };
  auto o = std::make_shared<Options>();
  o->ppl.seq_len = 0;
  auto* app = root.add_subcommand("eval", "Perplexity of a model on a corpus (SparseGPT/Wanda/PATCH protocol)");
  app->add_option("model", o->model, "HF model directory or GGUF file")->required();
  app->add_option("--corpus", o->corpus, "Text file or folder (txt, md, rst, jsonl; wiki.test.raw); default: python-docs");
  app->add_option("--split", o->split, "train, validation, test or all (deterministic split by document)")->capture_default_str();
  app->add_option("--seq-len", o->ppl.seq_len, "Window length (default: the model's context, at most 4096)");
  app->add_option("--stride", o->ppl.stride, "Sliding-window stride (default: non-overlapping windows)");
  app->add_option("--batch", o->ppl.batch, "Windows per forward pass")->capture_default_str();
  app->add_option("--max-windows", o->ppl.max_windows, "Evaluate at most this many windows (0 = all)")->capture_default_str();
  app->add_option("--dtype", o->dtype, "Compute dtype: f32, bf16")->capture_default_str();
  app->add_option("--out", o->out, "Write the results as JSON here");
  return {app, [o, &globals] {
            const std::filesystem::path corpus = o->corpus.empty() ? default_corpus_path() : std::filesystem::path(o->corpus);
            const Split split = parse_split(o->split);
            const auto dtype = parse_compute_dtype("--dtype", o->dtype);
            auto t0 = std::chrono::steady_clock::now();
            std::vector<Document> docs = read_corpus(corpus, split);
            Tokenizer tok = Tokenizer::from_model(o->model);
            Checkpoint ckpt = load_checkpoint(o->model);
            if (o->ppl.seq_len == 0) o->ppl.seq_len = std::min<std::int64_t>(ckpt.config.max_position_embeddings, 4096);
            Decoder model(ckpt, dtype);
            std::string joined;
            for (std::size_t i = 0; i < docs.size(); ++i) joined += (i ? "\n\n" : "") + docs[i].text;
            std::vector<std::int64_t> ids = tok.encode(joined);
            log_info("evaluating", {{"documents", docs.size()}, {"tokens", ids.size()}, {"seq_len", o->ppl.seq_len}});
            PerplexityResult r = perplexity(model, ids, o->ppl);
            double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

            std::printf("| model | corpus | split | seq_len | windows | tokens scored | PPL |\n");
            std::printf("|---|---|---|---|---|---|---|\n");
            std::printf("| %s | %s | %s | %lld | %lld | %lld | %.4f |\n", o->model.c_str(), corpus.string().c_str(),
                        split_name(split), static_cast<long long>(o->ppl.seq_len), static_cast<long long>(r.windows),
                        static_cast<long long>(r.tokens_scored), r.ppl());
            if (!o->out.empty()) {
              nlohmann::ordered_json j;
              j["meta"] = run_metadata(globals.argc, globals.argv);
              j["model"] = o->model;
              j["corpus"] = corpus.string();
              j["split"] = split_name(split);
              j["documents"] = docs.size();
              j["dtype"] = o->dtype;
              j["perplexity"] = {{"seq_len", o->ppl.seq_len}, {"stride", o->ppl.stride}, {"windows", r.windows},
                                 {"tokens_total", r.tokens_total}, {"tokens_scored", r.tokens_scored},
                                 {"nll_sum", r.nll_sum}, {"mean_nll", r.mean_nll()}, {"ppl", r.ppl()}};
              j["seconds"] = seconds;
              j["tokens_per_second"] = static_cast<double>(r.windows * o->ppl.seq_len) / seconds;
              write_json_file(o->out, j);
            }
            return 0;
          }};
}

}  // namespace patchlm::cli
