// Tokenizer documents from the vocabulary embedded in a GGUF file (io/tokenizer/gguf_vocab.h).
#include "io/tokenizer/gguf_vocab.h"

#include <algorithm>
#include <set>

#include "io/gguf.h"
#include "io/tokenizer/tokenizer.h"
#include "io/tokenizer/unicode.h"
#include "util/error.h"

namespace patchlm {
namespace {

using nlohmann::json;

constexpr std::int64_t kTokenControl = 3;
constexpr std::int64_t kTokenUserDefined = 4;

constexpr const char* kLlama3Split =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2Split =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

std::vector<std::string> string_array(const GgufHeader& h, const std::string& key, const std::string& source) {
  std::vector<std::string> out;
  for (const GgufValue& v : h.at(key, source).as_array(key)) out.push_back(v.as_string(key));
  return out;
}

std::vector<std::int64_t> token_types(const GgufHeader& h, std::size_t n) {
  std::vector<std::int64_t> out(n, 1);
  if (const GgufValue* v = h.find("tokenizer.ggml.token_type")) {
    const auto& arr = v->as_array("tokenizer.ggml.token_type");
    for (std::size_t i = 0; i < std::min(n, arr.size()); ++i) out[i] = arr[i].as_int("tokenizer.ggml.token_type");
  }
  return out;
}

bool flag(const GgufHeader& h, const std::string& key, bool fallback) {
  const GgufValue* v = h.find(key);
  return v && v->kind == GgufValue::Kind::boolean ? std::get<bool>(v->value) : fallback;
}

// Every character of `token` is in the GPT-2 byte alphabet.
bool in_byte_alphabet(const std::string& token) {
  for (std::size_t i = 0; i < token.size();) {
    std::size_t n = 0;
    if (tok::unicode_to_byte(tok::decode_utf8(token, i, &n)) < 0) return false;
    i += n;
  }
  return true;
}

std::size_t char_count(std::string_view s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); i += tok::char_length_at(s, i)) ++n;
  return n;
}

// Merges implied by a vocabulary whose order is its merge order (Gemma): every split of every token into two
// vocabulary tokens; tokens earlier in the file first, longer left parts first.
std::vector<std::pair<std::string, std::string>> merges_from_vocab(const std::vector<std::string>& tokens,
                                                                   const tok::Vocab& vocab) {
  struct Candidate {
    std::int64_t score;
    std::size_t left_chars, right_chars;
    std::uint32_t left_id, right_id;
    std::string left, right;
  };
  std::vector<Candidate> all;
  std::set<std::string> seen;  // each distinct token once, scored by its last position (as a Python dict would)
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    if (!seen.insert(t).second) continue;
    const std::int64_t score = -static_cast<std::int64_t>(vocab.find(t)->second);
    std::vector<Candidate> local;
    std::size_t chars_left = 0;
    for (std::size_t cut = tok::char_length_at(t, 0); cut < t.size(); cut += tok::char_length_at(t, cut)) {
      ++chars_left;
      auto l = vocab.find(std::string_view(t).substr(0, cut));
      auto r = vocab.find(std::string_view(t).substr(cut));
      if (l != vocab.end() && r != vocab.end()) {
        local.push_back({score, chars_left, char_count(std::string_view(t).substr(cut)), l->second, r->second,
                         t.substr(0, cut), t.substr(cut)});
      }
    }
    std::stable_sort(local.begin(), local.end(), [](const Candidate& a, const Candidate& b) {
      return a.left_id != b.left_id ? a.left_id < b.left_id : a.right_id < b.right_id;
    });
    for (auto& c : local) all.push_back(std::move(c));
  }
  // Python's sorted(..., reverse=True) is stable: equal keys keep their order.
  std::stable_sort(all.begin(), all.end(), [](const Candidate& a, const Candidate& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.left_chars != b.left_chars) return a.left_chars > b.left_chars;
    return a.right_chars > b.right_chars;
  });
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(all.size());
  for (auto& c : all) out.emplace_back(std::move(c.left), std::move(c.right));
  return out;
}

json added_token(const std::string& content, std::size_t id, bool special) {
  return {{"id", id},          {"content", content}, {"single_word", false}, {"lstrip", false},
          {"rstrip", false},   {"normalized", false}, {"special", special}};
}

// Control tokens become special added tokens (on byte-level vocabularies only those written in the byte
// alphabet, as transformers does), user-defined ones plain added tokens.
json added_tokens(const std::vector<std::string>& tokens, const std::vector<std::int64_t>& types,
                  const json& vocab, bool byte_level) {
  json out = json::array();
  std::set<std::string> present;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (types[i] == kTokenControl && (!byte_level || in_byte_alphabet(tokens[i]))) {
      out.push_back(added_token(tokens[i], i, true));
      present.insert(tokens[i]);
    }
  }
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (types[i] != kTokenUserDefined || present.count(tokens[i])) continue;
    auto it = vocab.find(tokens[i]);
    if (it == vocab.end()) continue;
    out.push_back(added_token(tokens[i], it->get<std::size_t>(), false));
    present.insert(tokens[i]);
  }
  return out;
}

json bpe_model(json vocab, const std::vector<std::pair<std::string, std::string>>& merges, const char* unk,
               bool byte_fallback) {
  json pairs = json::array();
  for (const auto& [a, b] : merges) pairs.push_back(json::array({a, b}));
  return {{"type", "BPE"},
          {"dropout", nullptr},
          {"unk_token", unk ? json(unk) : json(nullptr)},
          {"continuing_subword_prefix", nullptr},
          {"end_of_word_suffix", nullptr},
          {"fuse_unk", unk != nullptr},
          {"byte_fallback", byte_fallback},
          {"ignore_merges", false},
          {"vocab", std::move(vocab)},
          {"merges", std::move(pairs)}};
}

// Pre-tokenizer, decoder and model of a byte-level (`gpt2`) vocabulary.
void byte_level_sections(const GgufHeader& h, const std::vector<std::string>& tokens, const std::string& source,
                         json& doc) {
  json vocab = json::object();
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    vocab[in_byte_alphabet(t) ? t : tok::byte_level_encode(t)] = i;  // a repeated token: the last id wins
  }
  std::vector<std::pair<std::string, std::string>> merges;
  for (const std::string& m : string_array(h, "tokenizer.ggml.merges", source)) {
    std::size_t space = m.find(' ');
    if (space == std::string::npos) throw Error(str_cat(source, ": merge ", in_quotes(m), " has no space"));
    merges.emplace_back(m.substr(0, space), m.substr(space + 1));
  }
  const GgufValue* pre = h.find("tokenizer.ggml.pre");
  const std::string pre_type = pre ? pre->as_string("tokenizer.ggml.pre") : "";
  static const std::set<std::string> llama3 = {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral",
                                               "midm-2.0", "lfm2", "jina-v5-nano", "dbrx", "smaug-bpe"};
  static const std::set<std::string> qwen2 = {"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez"};
  json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  if (llama3.count(pre_type) || qwen2.count(pre_type)) {
    json split = {{"type", "Split"},
                  {"pattern", {{"Regex", llama3.count(pre_type) ? kLlama3Split : kQwen2Split}}},
                  {"behavior", "Isolated"},
                  {"invert", false}};
    byte_level["use_regex"] = false;
    doc["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", json::array({split, byte_level})}};
  } else {
    doc["pre_tokenizer"] = byte_level;
  }
  doc["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  doc["model"] = bpe_model(std::move(vocab), merges, nullptr, false);
}

// Normalizer, pre-tokenizer, decoder and model of Gemma's SentencePiece-style vocabulary.
void gemma_sections(const std::vector<std::string>& file_tokens, json& doc) {
  // Runs of spaces are stored as spaces but looked up as ▁ runs.
  std::vector<std::string> tokens = file_tokens;
  for (std::string& t : tokens) {
    if (t.find(' ') != std::string::npos && t.find_first_not_of(" \t\n\r\f\v") == std::string::npos) {
      std::string runs;
      for (std::size_t i = 0; i < char_count(t); ++i) runs += "\u2581";
      t = runs;
    }
  }
  tok::Vocab ids;
  json vocab = json::object();
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    ids.insert_or_assign(tokens[i], static_cast<std::uint32_t>(i));
    vocab[tokens[i]] = i;
  }
  doc["normalizer"] = {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}};
  doc["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "MergedWithPrevious"},
                          {"invert", false}};
  json replace = {{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}};
  doc["decoder"] = {{"type", "Sequence"},
                    {"decoders", json::array({replace, json{{"type", "ByteFallback"}}, json{{"type", "Fuse"}}})}};
  doc["model"] = bpe_model(std::move(vocab), merges_from_vocab(tokens, ids), "<unk>", true);
}

// BOS/EOS added around every sequence as tokenizers' TemplateProcessing writes it; null when neither is added.
json post_processor(const std::vector<std::string>& tokens, std::int64_t bos, std::int64_t eos) {
  if (bos < 0 && eos < 0) return nullptr;
  json single = json::array(), pair = json::array(), special = json::object();
  auto token = [&](std::int64_t id, int type_id) {
    const std::string& name = tokens[static_cast<std::size_t>(id)];
    special[name] = {{"id", name}, {"ids", json::array({id})}, {"tokens", json::array({name})}};
    return json{{"SpecialToken", {{"id", name}, {"type_id", type_id}}}};
  };
  auto sequence = [](const char* id, int type_id) { return json{{"Sequence", {{"id", id}, {"type_id", type_id}}}}; };
  for (int part = 0; part < 2; ++part) {
    json& out = part == 0 ? single : pair;
    for (int seq = 0; seq <= part; ++seq) {
      if (bos >= 0) out.push_back(token(bos, seq));
      out.push_back(sequence(seq == 0 ? "A" : "B", seq));
      if (eos >= 0) out.push_back(token(eos, seq));
    }
  }
  return {{"type", "TemplateProcessing"}, {"single", single}, {"pair", pair}, {"special_tokens", special}};
}

struct VocabularyKind {
  std::string model, arch;
  bool byte_level() const { return model == "gpt2"; }
};

VocabularyKind vocabulary_kind(const GgufHeader& h, const std::string& source) {
  VocabularyKind k{h.at("tokenizer.ggml.model", source).as_string("tokenizer.ggml.model"),
                   h.at("general.architecture", source).as_string("general.architecture")};
  const bool gemma = k.model == "llama" && (k.arch == "gemma" || k.arch == "gemma2" || k.arch == "gemma3");
  if (!k.byte_level() && !gemma) {
    throw Error(str_cat(source, ": GGUF tokenizer ", in_quotes(k.model), " for architecture ", in_quotes(k.arch),
                        " is not supported (gpt2; llama on Gemma); use the model's tokenizer.json"));
  }
  return k;
}

// A token id the file names under `key`, when it is inside the vocabulary (else -1).
std::int64_t token_id(const GgufHeader& h, const std::string& key, std::size_t vocabulary) {
  const GgufValue* v = h.find(key);
  if (v == nullptr) return -1;
  const std::int64_t id = v->as_int(key);
  return id >= 0 && static_cast<std::size_t>(id) < vocabulary ? id : -1;
}

bool adds_bos(const GgufHeader& h, const VocabularyKind& k) {
  // SentencePiece vocabularies add BOS unless told not to; byte-level ones only when told to.
  return flag(h, "tokenizer.ggml.add_bos_token", !k.byte_level());
}

}  // namespace

json tokenizer_json_from_gguf(const GgufHeader& h, const std::string& source) {
  const VocabularyKind kind = vocabulary_kind(h, source);
  const std::vector<std::string> tokens = string_array(h, "tokenizer.ggml.tokens", source);
  json doc = {{"version", "1.0"}, {"truncation", nullptr}, {"padding", nullptr}, {"added_tokens", json::array()},
              {"normalizer", nullptr}, {"pre_tokenizer", nullptr}, {"post_processor", nullptr}, {"decoder", nullptr},
              {"model", nullptr}};
  if (kind.byte_level()) {
    byte_level_sections(h, tokens, source, doc);
  } else {
    gemma_sections(tokens, doc);
  }
  doc["added_tokens"] = added_tokens(tokens, token_types(h, tokens.size()), doc["model"]["vocab"], kind.byte_level());
  const std::int64_t bos = adds_bos(h, kind) ? token_id(h, "tokenizer.ggml.bos_token_id", tokens.size()) : -1;
  const std::int64_t eos =
      flag(h, "tokenizer.ggml.add_eos_token", false) ? token_id(h, "tokenizer.ggml.eos_token_id", tokens.size()) : -1;
  doc["post_processor"] = post_processor(tokens, bos, eos);
  return doc;
}

nlohmann::ordered_json tokenizer_config_from_gguf(const GgufHeader& h, const std::string& source) {
  const VocabularyKind kind = vocabulary_kind(h, source);
  const std::vector<std::string> tokens = string_array(h, "tokenizer.ggml.tokens", source);
  nlohmann::ordered_json c;
  c["tokenizer_class"] = "PreTrainedTokenizerFast";
  for (const auto& [field, key] : {std::pair{"bos_token", "tokenizer.ggml.bos_token_id"},
                                   std::pair{"eos_token", "tokenizer.ggml.eos_token_id"},
                                   std::pair{"unk_token", "tokenizer.ggml.unknown_token_id"},
                                   std::pair{"pad_token", "tokenizer.ggml.padding_token_id"}}) {
    const std::int64_t id = token_id(h, key, tokens.size());
    if (id >= 0) c[field] = tokens[static_cast<std::size_t>(id)];
  }
  c["add_bos_token"] = adds_bos(h, kind);
  c["add_eos_token"] = flag(h, "tokenizer.ggml.add_eos_token", false);
  c["clean_up_tokenization_spaces"] = false;
  const std::string context_key = kind.arch + ".context_length";
  if (const GgufValue* v = h.find(context_key)) c["model_max_length"] = v->as_int(context_key);
  if (const GgufValue* v = h.find("tokenizer.chat_template")) c["chat_template"] = v->as_string("tokenizer.chat_template");
  return c;
}

Tokenizer Tokenizer::from_gguf(const GgufHeader& h, const std::string& source) {
  const nlohmann::ordered_json config = tokenizer_config_from_gguf(h, source);
  return from_json_text(tokenizer_json_from_gguf(h, source).dump(), source, nlohmann::json(config));
}

}  // namespace patchlm
