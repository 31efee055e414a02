// Tokenizers from the vocabulary embedded in a GGUF file, built the way transformers builds them from the same
// metadata (so both give identical ids):
//   tokenizer.ggml.model = "gpt2"  → byte-level BPE with the file's merges; the split regex is chosen by
//                                    tokenizer.ggml.pre (LLaMA-3 and Qwen2 families; GPT-2's otherwise).
//   tokenizer.ggml.model = "llama" on Gemma architectures → SentencePiece-style BPE with byte fallback; the file
//                                    has no merges, so they are rebuilt from the vocabulary in token order.
// Control tokens become special added tokens, user-defined ones plain added tokens.
#include <algorithm>
#include <set>

#include "io/gguf.h"
#include "io/tokenizer/tokenizer.h"
#include "io/tokenizer/unicode.h"
#include "util/error.h"

namespace patchlm {
namespace {

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

std::string token_name(const GgufHeader& h, const std::vector<std::string>& tokens, const std::string& key) {
  const GgufValue* v = h.find(key);
  if (v == nullptr) return "";
  std::int64_t id = v->as_int(key);
  return id >= 0 && static_cast<std::size_t>(id) < tokens.size() ? tokens[id] : "";
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

void add_special_tokens_from_types(Tokenizer::Parts& parts, const std::vector<std::string>& tokens,
                                   const std::vector<std::int64_t>& types, bool byte_level) {
  const tok::Vocab& vocab = parts.model->vocab();
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (types[i] == kTokenControl && (!byte_level || in_byte_alphabet(tokens[i]))) {
      parts.added.push_back({tokens[i], static_cast<std::uint32_t>(i), false, false, false, false, true});
    }
  }
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (types[i] != kTokenUserDefined) continue;
    auto it = vocab.find(tokens[i]);
    if (it == vocab.end()) continue;
    bool present = std::any_of(parts.added.begin(), parts.added.end(), [&](const auto& a) { return a.content == tokens[i]; });
    if (!present) parts.added.push_back({tokens[i], it->second, false, false, false, false, false});
  }
}

Tokenizer::Parts byte_level_parts(const GgufHeader& h, const std::vector<std::string>& tokens, const std::string& source) {
  tok::Vocab vocab;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    vocab.insert_or_assign(in_byte_alphabet(t) ? t : tok::byte_level_encode(t), static_cast<std::uint32_t>(i));
  }
  std::vector<std::pair<std::string, std::string>> merges;
  for (const std::string& m : string_array(h, "tokenizer.ggml.merges", source)) {
    std::size_t space = m.find(' ');
    if (space == std::string::npos) throw Error(str_cat(source, ": merge ", in_quotes(m), " has no space"));
    merges.emplace_back(m.substr(0, space), m.substr(space + 1));
  }
  Tokenizer::Parts parts;
  tok::BpeOptions opt;
  parts.model = std::make_unique<tok::Bpe>(std::move(vocab), merges, opt);
  const GgufValue* pre = h.find("tokenizer.ggml.pre");
  const std::string pre_type = pre ? pre->as_string("tokenizer.ggml.pre") : "";
  static const std::set<std::string> llama3 = {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral",
                                               "midm-2.0", "lfm2", "jina-v5-nano", "dbrx", "smaug-bpe"};
  static const std::set<std::string> qwen2 = {"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez"};
  nlohmann::json pre_json;
  if (llama3.count(pre_type) || qwen2.count(pre_type)) {
    nlohmann::json split = {{"type", "Split"},
                            {"pattern", {{"Regex", llama3.count(pre_type) ? kLlama3Split : kQwen2Split}}},
                            {"behavior", "Isolated"},
                            {"invert", false}};
    nlohmann::json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
    pre_json = {{"type", "Sequence"}, {"pretokenizers", nlohmann::json::array({split, byte_level})}};
  } else {
    pre_json = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  }
  parts.pre_tokenizer = tok::make_pre_tokenizer(pre_json);
  parts.decoder = tok::make_decoder(nlohmann::json{{"type", "ByteLevel"}});
  return parts;
}

Tokenizer::Parts gemma_parts(const std::vector<std::string>& file_tokens) {
  // Runs of spaces are stored as spaces but looked up as ▁ runs.
  std::vector<std::string> tokens = file_tokens;
  for (std::string& t : tokens) {
    if (t.find(' ') != std::string::npos && t.find_first_not_of(" \t\n\r\f\v") == std::string::npos) {
      std::string runs;
      for (std::size_t i = 0; i < char_count(t); ++i) runs += "\u2581";
      t = runs;
    }
  }
  tok::Vocab vocab;
  for (std::size_t i = 0; i < tokens.size(); ++i) vocab.insert_or_assign(tokens[i], static_cast<std::uint32_t>(i));
  auto merges = merges_from_vocab(tokens, vocab);
  Tokenizer::Parts parts;
  tok::BpeOptions opt;
  opt.unk_token = "<unk>";
  opt.fuse_unk = true;
  opt.byte_fallback = true;
  parts.model = std::make_unique<tok::Bpe>(std::move(vocab), merges, opt);
  parts.normalizer = tok::make_normalizer({{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}});
  parts.pre_tokenizer = tok::make_pre_tokenizer(
      {{"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "MergedWithPrevious"}, {"invert", false}});
  nlohmann::json replace = {{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}};
  nlohmann::json byte_fallback = {{"type", "ByteFallback"}}, fuse = {{"type", "Fuse"}};
  parts.decoder = tok::make_decoder({{"type", "Sequence"}, {"decoders", nlohmann::json::array({replace, byte_fallback, fuse})}});
  return parts;
}

}  // namespace

Tokenizer Tokenizer::from_gguf(const GgufHeader& h, const std::string& source) {
  const std::string model = h.at("tokenizer.ggml.model", source).as_string("tokenizer.ggml.model");
  const std::string arch = h.at("general.architecture", source).as_string("general.architecture");
  std::vector<std::string> tokens = string_array(h, "tokenizer.ggml.tokens", source);
  std::vector<std::int64_t> types = token_types(h, tokens.size());
  Parts parts;
  bool add_bos = false;
  if (model == "gpt2") {
    parts = byte_level_parts(h, tokens, source);
    add_bos = flag(h, "tokenizer.ggml.add_bos_token", false);
  } else if (model == "llama" && (arch == "gemma" || arch == "gemma2" || arch == "gemma3")) {
    parts = gemma_parts(tokens);
    add_bos = flag(h, "tokenizer.ggml.add_bos_token", true);  // SentencePiece vocabularies add BOS unless told not to
  } else {
    throw Error(str_cat(source, ": GGUF tokenizer ", in_quotes(model), " for architecture ", in_quotes(arch),
                        " is not supported (gpt2; llama on Gemma); use the model's tokenizer.json"));
  }
  add_special_tokens_from_types(parts, tokens, types, model == "gpt2");
  parts.bos_token = token_name(h, tokens, "tokenizer.ggml.bos_token_id");
  parts.eos_token = token_name(h, tokens, "tokenizer.ggml.eos_token_id");
  if (add_bos) {
    const GgufValue* bos = h.find("tokenizer.ggml.bos_token_id");
    if (bos) parts.post_processor.prefix.push_back(static_cast<std::uint32_t>(bos->as_int("tokenizer.ggml.bos_token_id")));
  }
  if (flag(h, "tokenizer.ggml.add_eos_token", false)) {
    const GgufValue* eos = h.find("tokenizer.ggml.eos_token_id");
    if (eos) parts.post_processor.suffix.push_back(static_cast<std::uint32_t>(eos->as_int("tokenizer.ggml.eos_token_id")));
  }
  return Tokenizer(std::move(parts));
}

}  // namespace patchlm
