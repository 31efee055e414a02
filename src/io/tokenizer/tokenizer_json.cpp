// Loading tokenizer.json (+ tokenizer_config.json). The vocabulary and merges of real files are large (Gemma-3:
// 262k tokens, 515k merges, 33 MB), so the file is parsed with simdjson; the small configuration objects
// (normalizer, pre-tokenizer, post-processor, decoder) are handed to nlohmann::json.
#include <simdjson.h>

#include <fstream>

#include "io/gguf.h"
#include "io/tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/json_io.h"

namespace patchlm {
namespace fs = std::filesystem;
namespace {

using simdjson::dom::element;

bool bool_field(const element& obj, const char* key, bool fallback) {
  bool v = fallback;
  if (obj[key].get(v) != simdjson::SUCCESS) return fallback;
  return v;
}

[[noreturn]] void fail(const fs::path& path, const std::string& what) {
  throw Error(str_cat(path.string(), ": ", what));
}

nlohmann::json section(const element& root, const char* key) {
  element e;
  if (root[key].get(e) != simdjson::SUCCESS) return nullptr;
  return nlohmann::json::parse(simdjson::minify(e));
}

// A string, from a value that may be missing (a lookup's result): Error naming `what` otherwise.
std::string_view get_string(simdjson::simdjson_result<element> e, const fs::path& path, const char* what) {
  std::string_view s;
  if (e.get(s) != simdjson::SUCCESS) fail(path, str_cat(what, " must be a string"));
  return s;
}

tok::Vocab read_vocab(const element& model, const fs::path& path) {
  simdjson::dom::object vocab;
  if (model["vocab"].get(vocab) != simdjson::SUCCESS) fail(path, "model.vocab must be an object");
  tok::Vocab out;
  out.reserve(vocab.size() * 2);
  for (auto field : vocab) {
    std::uint64_t id = 0;
    if (field.value.get(id) != simdjson::SUCCESS || id > UINT32_MAX) {
      fail(path, str_cat("model.vocab[", in_quotes(std::string(field.key)), "] is not a token id"));
    }
    out.emplace(std::string(field.key), static_cast<std::uint32_t>(id));
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> read_merges(const element& model, const fs::path& path) {
  std::vector<std::pair<std::string, std::string>> out;
  simdjson::dom::array merges;
  if (model["merges"].get(merges) != simdjson::SUCCESS) return out;
  out.reserve(merges.size());
  std::size_t index = 0;
  for (element m : merges) {
    std::string_view s;
    simdjson::dom::array pair;
    if (m.get(s) == simdjson::SUCCESS) {  // legacy "left right"
      std::size_t space = s.find(' ');
      if (space == std::string_view::npos) fail(path, str_cat("model.merges[", index, "] = ", in_quotes(std::string(s)), " has no space"));
      out.emplace_back(std::string(s.substr(0, space)), std::string(s.substr(space + 1)));
    } else if (m.get(pair) == simdjson::SUCCESS && pair.size() == 2) {
      out.emplace_back(std::string(get_string(pair.at(0), path, "merge part")),
                       std::string(get_string(pair.at(1), path, "merge part")));
    } else {
      fail(path, str_cat("model.merges[", index, "] is neither \"a b\" nor [\"a\", \"b\"]"));
    }
    ++index;
  }
  return out;
}

std::vector<tok::AddedToken> read_added(const element& root, const fs::path& path) {
  std::vector<tok::AddedToken> out;
  simdjson::dom::array added;
  if (root["added_tokens"].get(added) != simdjson::SUCCESS) return out;
  for (element a : added) {
    tok::AddedToken t;
    std::uint64_t id = 0;
    if (a["id"].get(id) != simdjson::SUCCESS) fail(path, "added_tokens entry without an id");
    t.id = static_cast<std::uint32_t>(id);
    t.content = std::string(get_string(a["content"], path, "added_tokens content"));
    t.special = bool_field(a, "special", false);
    t.single_word = bool_field(a, "single_word", false);
    t.lstrip = bool_field(a, "lstrip", false);
    t.rstrip = bool_field(a, "rstrip", false);
    t.normalized = bool_field(a, "normalized", !t.special);
    out.push_back(std::move(t));
  }
  return out;
}

// bos/eos names from tokenizer_config.json: a string or {"content": ...}.
std::string config_token(const nlohmann::json& config, const char* key) {
  if (!config.contains(key)) return "";
  const auto& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return "";
}

// "chat_template": a string, or a list of {"name", "template"} of which the one named "default" is taken.
std::string chat_template_of(const nlohmann::json& config) {
  if (!config.contains("chat_template")) return "";
  const auto& t = config["chat_template"];
  if (t.is_string()) return t.get<std::string>();
  if (t.is_array()) {
    for (const auto& entry : t)
      if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") && entry["template"].is_string())
        return entry["template"].get<std::string>();
  }
  return "";
}

// The tokenizer of a parsed tokenizer.json document; `config` is its tokenizer_config.json (or null).
Tokenizer tokenizer_from_document(const element& root, const fs::path& path, const nlohmann::json& config) {
  element model;
  if (root["model"].get(model) != simdjson::SUCCESS) fail(path, "missing field 'model'");
  std::string_view type;
  if (model["type"].get(type) != simdjson::SUCCESS) type = "BPE";  // older files omit the type
  if (type != "BPE") fail(path, str_cat("model type ", in_quotes(std::string(type)), " is not supported (BPE)"));

  tok::BpeOptions opt;
  std::string_view unk;
  if (model["unk_token"].get(unk) == simdjson::SUCCESS) opt.unk_token = std::string(unk);  // null: no unk token
  opt.fuse_unk = bool_field(model, "fuse_unk", false);
  opt.byte_fallback = bool_field(model, "byte_fallback", false);
  opt.ignore_merges = bool_field(model, "ignore_merges", false);
  std::string_view s;
  if (model["continuing_subword_prefix"].get(s) == simdjson::SUCCESS) opt.continuing_subword_prefix = std::string(s);
  if (model["end_of_word_suffix"].get(s) == simdjson::SUCCESS) opt.end_of_word_suffix = std::string(s);
  double dropout = 0;
  if (model["dropout"].get(dropout) == simdjson::SUCCESS && dropout > 0) fail(path, "BPE dropout is not supported");

  Tokenizer::Parts parts;
  try {
    parts.model = std::make_unique<tok::Bpe>(read_vocab(model, path), read_merges(model, path), opt);
    parts.normalizer = tok::make_normalizer(section(root, "normalizer"));
    parts.pre_tokenizer = tok::make_pre_tokenizer(section(root, "pre_tokenizer"));
    parts.post_processor = tok::make_post_processor(section(root, "post_processor"));
    parts.decoder = tok::make_decoder(section(root, "decoder"));
  } catch (const nlohmann::json::exception& e) {
    fail(path, str_cat("unexpected structure (", e.what(), ")"));
  } catch (const simdjson::simdjson_error& e) {
    fail(path, str_cat("unexpected structure (", e.what(), ")"));
  }
  try {
    parts.added = read_added(root, path);
  } catch (const simdjson::simdjson_error& e) {
    fail(path, str_cat("added_tokens: unexpected structure (", e.what(), ")"));
  }
  if (config.is_object()) {
    parts.bos_token = config_token(config, "bos_token");
    parts.eos_token = config_token(config, "eos_token");
    parts.chat_template = chat_template_of(config);
  }
  return Tokenizer(std::move(parts));
}

}  // namespace

Tokenizer Tokenizer::from_json_file(const fs::path& path) {
  require_regular_file(path);
  simdjson::dom::parser parser;
  element root;
  if (auto err = parser.load(path.string()).get(root); err != simdjson::SUCCESS) {
    fail(path, std::string(err == simdjson::IO_ERROR ? "cannot read the file" : "invalid JSON: ") +
                   (err == simdjson::IO_ERROR ? "" : simdjson::error_message(err)));
  }
  const fs::path config_path = path.parent_path() / "tokenizer_config.json";
  return tokenizer_from_document(root, path, fs::exists(config_path) ? read_json_file(config_path) : nlohmann::json());
}

Tokenizer Tokenizer::from_json_text(std::string_view text, const std::string& source, const nlohmann::json& config) {
  simdjson::dom::parser parser;
  element root;
  if (auto err = parser.parse(simdjson::padded_string(text)).get(root); err != simdjson::SUCCESS) {
    fail(source, str_cat("invalid tokenizer JSON: ", simdjson::error_message(err)));
  }
  return tokenizer_from_document(root, source, config);
}

Tokenizer Tokenizer::from_model(const fs::path& path) {
  if (fs::is_directory(path)) {
    if (!fs::exists(path / "tokenizer.json")) throw Error(str_cat(in_quotes(path.string()), " has no tokenizer.json"));
    return from_json_file(path / "tokenizer.json");
  }
  if (path.extension() == ".json") return from_json_file(path);
  if (path.extension() == ".gguf") {
    GgufFile file = GgufFile::open(path);
    return from_gguf(file.header(), path.string());
  }
  throw Error(str_cat(in_quotes(path.string()), " is neither a model directory, a tokenizer.json nor a .gguf file"));
}

}  // namespace patchlm
