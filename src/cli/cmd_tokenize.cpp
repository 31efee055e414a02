// `patchlm tokenize MODEL_OR_TOKENIZER --text ...`: ids and pieces of a text; `--jsonl FILE` encodes one
// {"text": ...} per line and prints {"ids": [...], "decoded": ...} per line (for checking against a reference).
#include <iomanip>
#include <iostream>

#include "cli/command.h"
#include "io/tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/json_io.h"

namespace patchlm::cli {
namespace {

// Token text made visible: control characters and spaces escaped, as a reader wants to see them.
std::string visible(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c < 0x20) out += str_cat("\\x", "0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 15]);
    else out += static_cast<char>(c);
  }
  return out;
}

void run_jsonl(const Tokenizer& tok, const std::string& path, bool add_special, bool skip_special) {
  for_each_jsonl(path, [&](const nlohmann::json& j, const std::string& where) {
    if (!j.is_object() || !j.contains("text") || !j["text"].is_string()) {
      throw Error(str_cat(where, ": expected an object with a string field 'text'"));
    }
    std::vector<std::int64_t> ids = tok.encode(j["text"].get<std::string>(), add_special);
    nlohmann::json out = {{"ids", ids}, {"decoded", tok.decode(ids, skip_special)}};
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  });
}

}  // namespace

Command add_tokenize_command(CLI::App& root, const GlobalOptions&) {
  struct Options {
    std::string model, text, jsonl;
    bool no_special = false, skip_special = false;
  };
  auto o = std::make_shared<Options>();
  auto* app = root.add_subcommand("tokenize", "Show the token ids and pieces of a text");
  app->add_option("model", o->model, "Model directory, tokenizer.json or GGUF file")->required();
  app->add_option("--text", o->text, "Text to tokenize");
  app->add_option("--jsonl", o->jsonl, "File with one {\"text\": ...} per line; prints ids + decoded text per line");
  app->add_flag("--no-special", o->no_special, "Do not add BOS/EOS (add_special_tokens=False)");
  app->add_flag("--skip-special", o->skip_special, "Drop special tokens when decoding");
  return {app, [o] {
            if (o->text.empty() == o->jsonl.empty()) throw UsageError("tokenize: give exactly one of --text or --jsonl");
            if (!o->jsonl.empty() && std::filesystem::is_directory(o->jsonl))
              throw UsageError(str_cat("--jsonl: ", in_quotes(o->jsonl), " is a directory, not a JSON Lines file"));
            Tokenizer tok = Tokenizer::from_model(o->model);
            if (!o->jsonl.empty()) {
              run_jsonl(tok, o->jsonl, !o->no_special, o->skip_special);
              return 0;
            }
            std::vector<std::int64_t> ids = tok.encode(o->text, !o->no_special);
            for (std::int64_t id : ids) {
              std::cout << std::setw(8) << id << "  " << visible(tok.id_to_token(id).value_or("?")) << "\n";
            }
            std::cout << ids.size() << " tokens:";
            for (std::int64_t id : ids) std::cout << " " << id;
            std::cout << "\n";
            return 0;
          }};
}

}  // namespace patchlm::cli
