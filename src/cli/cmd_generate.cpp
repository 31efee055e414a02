// `patchlm generate MODEL --prompt TEXT | --ids 1,2,3[;4,5,6]`: continue prompts on the generation engine
// (engine/engine.h: fused projections, a preallocated KV cache, fused decode kernels and CUDA graphs on a GPU), greedy
// or sampled; several --ids rows decode together as one batch.
#include <iostream>

#include "cli/command.h"
#include "cli/options.h"
#include "cli/text_stream.h"
#include "engine/generation.h"
#include "io/tokenizer/tokenizer.h"
#include "kernels/hybrid_model.h"
#include "util/error.h"

namespace patchlm::cli {

Command add_generate_command(CLI::App& root, const GlobalOptions&) {
  struct Options {
    std::string model, prompt, ids, dtype = "auto", device = "cpu", tokenizer;
    GenerateOptions gen;
    bool no_graphs = false;
  };
  auto o = std::make_shared<Options>();
  auto* app = root.add_subcommand("generate", "Continue a prompt with the model (greedy or sampled)");
  app->add_option("model", o->model, "HF model directory, GGUF file or hybrid checkpoint")->required();
  app->add_option("--prompt", o->prompt, "Prompt text (tokenized with the model's own tokenizer)");
  app->add_option("--tokenizer", o->tokenizer, "Tokenizer from this model directory / GGUF / tokenizer.json instead");
  app->add_option("--ids", o->ids, "Prompt(s) as token ids: 1,2,3 or several of one length, 1,2;3,4 (one batch)");
  app->add_option("--max-new-tokens", o->gen.max_new_tokens, "Tokens to generate")->capture_default_str();
  app->add_option("--temperature", o->gen.temperature, "0 = greedy")->capture_default_str();
  app->add_option("--top-k", o->gen.top_k, "Sample from the k most likely tokens (0 = all)")->capture_default_str();
  app->add_option("--top-p", o->gen.top_p, "Nucleus sampling mass (1 = off)")->capture_default_str();
  app->add_option("--seed", o->gen.seed, "Sampling seed")->capture_default_str();
  app->add_option("--dtype", o->dtype, "Compute dtype: auto (bf16 for a hybrid checkpoint on CUDA, else f32), f32, bf16")
      ->capture_default_str();
  app->add_option("--device", o->device, "cpu or cuda[:N] (hybrid checkpoints run on the hybrid kernel there)")
      ->capture_default_str();
  app->add_flag("!--no-stop", o->gen.stop_at_eos, "Do not stop at the end-of-sequence token");
  app->add_flag("--no-cuda-graphs", o->no_graphs, "Run decode steps and prefill passes eagerly on CUDA (for profiling)");
  return {app, [o, app] {
            if (app->count("--prompt") && o->prompt.empty()) throw UsageError("--prompt: the prompt is empty");
            if (o->prompt.empty() == o->ids.empty()) throw UsageError("generate: give exactly one of --prompt or --ids");
            validate_sampling(o->gen);
            std::vector<GenerationRequest> requests;
            std::optional<Tokenizer> tok;
            if (o->prompt.empty()) {
              for (auto& row : parse_id_batch("--ids", o->ids)) requests.push_back({row, o->gen, {}});
            } else {
              tok.emplace(Tokenizer::from_model(o->tokenizer.empty() ? o->model : o->tokenizer));
              requests.push_back({tok->encode(o->prompt), o->gen, {}});
            }
            EngineOptions engine_options;
            engine_options.max_batch = static_cast<std::int64_t>(requests.size());
            engine_options.max_context = static_cast<std::int64_t>(requests[0].prompt.size()) + o->gen.max_new_tokens + 1;
            engine_options.cuda_graphs = !o->no_graphs;
            Engine engine(kernels::load_model(o->model, parse_model_dtype("--dtype", o->dtype),
                                              parse_device("--device", o->device)),
                          engine_options);
            if (tok) check_tokenizer_fits(*tok, engine.config(), o->tokenizer.empty() ? o->model : o->tokenizer);
            if (!tok) {  // ids in, ids out: one line per sequence
              for (const GenerationResult& r : generate(engine, requests)) {
                for (std::size_t i = 0; i < r.tokens.size(); ++i) std::cout << (i ? "," : "") << r.tokens[i];
                std::cout << "\n";
              }
              return 0;
            }
            // Text in, text out, streamed as it is produced.
            std::cout << o->prompt << std::flush;
            TextStream stream(*tok, std::cout);
            generate(engine, requests, [&](std::size_t, std::int64_t id) {
              stream.add(id);
              return true;
            });
            std::cout << "\n";
            return 0;
          }};
}

}  // namespace patchlm::cli
