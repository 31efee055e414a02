// `patchlm chat MODEL`: an interactive conversation on the generation engine — every line on stdin is a user turn,
// the reply streams to stdout; the prompt is the model family's chat format (engine/chat_template), recognised from
// the tokenizer's chat template. "/reset" starts over, "/exit" or the end of input ends. `--template-only` prints
// the prompt of a JSON conversation on stdin instead (MODEL may then be just a tokenizer).
#include <unistd.h>

#include <iostream>
#include <iterator>

#include "cli/command.h"
#include "cli/options.h"
#include "cli/text_stream.h"
#include "engine/chat_template.h"
#include "engine/generation.h"
#include "io/tokenizer/tokenizer.h"
#include "kernels/hybrid_model.h"
#include "util/error.h"
#include "util/json_io.h"

namespace patchlm::cli {
namespace {

struct ChatOptions {
  std::string model, tokenizer, system, dtype = "auto", device = "cpu";
  std::int64_t max_context = 4096;
  bool template_only = false;
  GenerateOptions gen;
};

std::vector<ChatMessage> read_conversation(std::istream& in) {
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const nlohmann::json j = parse_json_text(text, "stdin");
  if (!j.is_array()) throw Error("stdin: the conversation must be a JSON list of {\"role\", \"content\"}");
  std::vector<ChatMessage> messages;
  for (const auto& m : j) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") || !m["content"].is_string())
      throw Error("stdin: every message needs string fields \"role\" and \"content\"");
    messages.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
  }
  return messages;
}

int run_chat(const ChatOptions& o) {
  const Tokenizer tok = Tokenizer::from_model(o.tokenizer.empty() ? o.model : o.tokenizer);
  const ChatTemplate chat = ChatTemplate::recognise(tok.chat_template(), tok.bos_token(), o.tokenizer.empty() ? o.model : o.tokenizer);
  if (o.template_only) {
    std::cout << chat.render(read_conversation(std::cin), /*add_generation_prompt=*/true);
    return 0;
  }
  const auto end_of_turn = tok.token_to_id(chat.end_of_turn());
  if (!end_of_turn) throw Error(str_cat(o.model, ": the vocabulary has no ", chat.end_of_turn(), " token"));
  EngineOptions eo;
  eo.max_context = o.max_context;
  Engine engine(kernels::load_model(o.model, parse_model_dtype("--dtype", o.dtype), parse_device("--device", o.device)), eo);
  std::vector<ChatMessage> messages;
  if (!o.system.empty()) messages.push_back({"system", o.system});
  const bool interactive = isatty(STDIN_FILENO);
  std::string line;
  while (true) {
    if (interactive) std::cerr << "> " << std::flush;
    if (!std::getline(std::cin, line) || line == "/exit") break;
    if (line == "/reset") {
      messages.resize(o.system.empty() ? 0 : 1);
      continue;
    }
    if (line.empty()) continue;
    messages.push_back({"user", line});
    GenerationRequest request{tok.encode(chat.render(messages, true), /*add_special_tokens=*/false), o.gen, {*end_of_turn}};
    TextStream stream(tok, std::cout);
    const GenerationResult r = generate(engine, {request}, [&](std::size_t, std::int64_t id) {
      if (id != *end_of_turn) stream.add(id);
      return true;
    })[0];
    std::cout << "\n" << std::flush;
    if (r.finish == FinishReason::context) std::cerr << "patchlm: the conversation filled the context (--max-context); /reset to start over\n";
    messages.push_back({"assistant", stream.text()});
  }
  return 0;
}

}  // namespace

Command add_chat_command(CLI::App& root, const GlobalOptions&) {
  auto o = std::make_shared<ChatOptions>();
  o->gen.max_new_tokens = 512;
  auto* app = root.add_subcommand("chat", "Talk to the model: each stdin line is a user turn, replies stream back");
  app->add_option("model", o->model, "HF model directory, GGUF file or hybrid checkpoint")->required();
  app->add_option("--tokenizer", o->tokenizer, "Tokenizer (and chat template) from this model / tokenizer.json instead");
  app->add_option("--system", o->system, "System prompt");
  app->add_option("--max-new-tokens", o->gen.max_new_tokens, "At most this many tokens per reply")->capture_default_str();
  app->add_option("--temperature", o->gen.temperature, "0 = greedy")->capture_default_str();
  app->add_option("--top-k", o->gen.top_k, "Sample from the k most likely tokens (0 = all)")->capture_default_str();
  app->add_option("--top-p", o->gen.top_p, "Nucleus sampling mass (1 = off)")->capture_default_str();
  app->add_option("--seed", o->gen.seed, "Sampling seed")->capture_default_str();
  app->add_option("--max-context", o->max_context, "Tokens the conversation may hold")->capture_default_str();
  app->add_option("--dtype", o->dtype, "Compute dtype: auto (bf16 for a hybrid checkpoint on CUDA, else f32), f32, bf16")
      ->capture_default_str();
  app->add_option("--device", o->device, "cpu or cuda[:N]")->capture_default_str();
  app->add_flag("--template-only", o->template_only,
                "Print the prompt of the JSON conversation on stdin ([{\"role\", \"content\"}, ...]) and exit");
  return {app, [o] {
            validate_sampling(o->gen);
            if (o->max_context < 2) throw UsageError("--max-context: must be at least 2");
            return run_chat(*o);
          }};
}

}  // namespace patchlm::cli
