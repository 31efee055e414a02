// `patchlm generate MODEL --ids 1,2,3 --max-new-tokens N`: greedy or sampled continuation with the KV cache.
#include <iostream>

#include "cli/command.h"
#include "cli/load_model.h"
#include "cli/options.h"
#include "io/tokenizer/tokenizer.h"
#include "model/generate.h"
#include "util/error.h"

namespace patchlm::cli {

Command add_generate_command(CLI::App& root, const GlobalOptions&) {
  struct Options {
    std::string model, prompt, ids, dtype = "f32", device = "cpu", tokenizer;
    GenerateOptions gen;
  };
  auto o = std::make_shared<Options>();
  auto* app = root.add_subcommand("generate", "Continue a prompt with the model (greedy or sampled)");
  app->add_option("model", o->model, "HF model directory or GGUF file")->required();
  app->add_option("--prompt", o->prompt, "Prompt text (tokenized with the model's own tokenizer)");
  app->add_option("--tokenizer", o->tokenizer, "Tokenizer from this model directory / GGUF / tokenizer.json instead");
  app->add_option("--ids", o->ids, "Prompt as token ids, e.g. 1,2,3");
  app->add_option("--max-new-tokens", o->gen.max_new_tokens, "Tokens to generate")->capture_default_str();
  app->add_option("--temperature", o->gen.temperature, "0 = greedy")->capture_default_str();
  app->add_option("--top-k", o->gen.top_k, "Sample from the k most likely tokens (0 = all)")->capture_default_str();
  app->add_option("--top-p", o->gen.top_p, "Nucleus sampling mass (1 = off)")->capture_default_str();
  app->add_option("--seed", o->gen.seed, "Sampling seed")->capture_default_str();
  app->add_option("--dtype", o->dtype, "Compute dtype: f32, bf16")->capture_default_str();
  app->add_option("--device", o->device, "cpu or cuda[:N] (hybrid checkpoints use the hybrid kernel there in bf16)")
      ->capture_default_str();
  app->add_flag("!--no-stop", o->gen.stop_at_eos, "Do not stop at the end-of-sequence token");
  return {app, [o] {
            if (o->prompt.empty() == o->ids.empty()) throw UsageError("generate: give exactly one of --prompt or --ids");
            if (o->gen.top_p <= 0 || o->gen.top_p > 1) throw UsageError("--top-p: must be in (0, 1]");
            if (o->prompt.empty()) {  // ids in, ids out
              auto batch = parse_id_batch("--ids", o->ids);
              if (batch.size() != 1) throw UsageError("--ids: generate takes one sequence");
              auto model = load_model(o->model, parse_compute_dtype("--dtype", o->dtype),
                                      parse_device("--device", o->device), "");
              std::vector<std::int64_t> out = generate(*model, batch[0], o->gen);
              for (std::size_t i = 0; i < out.size(); ++i) std::cout << (i ? "," : "") << out[i];
              std::cout << "\n";
              return 0;
            }
            // Text in, text out, streamed as it is produced.
            Tokenizer tok = Tokenizer::from_model(o->tokenizer.empty() ? o->model : o->tokenizer);
            auto model = load_model(o->model, parse_compute_dtype("--dtype", o->dtype), parse_device("--device", o->device),
                                    "");
            std::vector<std::int64_t> fresh;
            std::string shown;
            std::cout << o->prompt << std::flush;
            generate(*model, tok.encode(o->prompt), o->gen, [&](std::int64_t id) {
              fresh.push_back(id);
              std::string text = tok.decode(fresh, /*skip_special_tokens=*/true);
              // Wait while the text ends inside a multi-byte character (decoded as U+FFFD for now).
              if (text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0) return;
              if (text.compare(0, shown.size(), shown) == 0) {
                std::cout << text.substr(shown.size()) << std::flush;
                shown = text;
              }
            });
            std::cout << "\n";
            return 0;
          }};
}

}  // namespace patchlm::cli
