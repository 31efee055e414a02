// libFuzzer target: encoding any byte string (invalid UTF-8 included) and decoding the result never crashes, and
// decoding the ids of valid UTF-8 text returns the text (the byte-level tokenizer below round-trips by design).
// The tokenizer is built once: byte-level BPE with NFC, a LLaMA-3 style split regex and added tokens with flags.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include <nlohmann/json.hpp>

#include "io/tokenizer/pre_tokenizers.h"
#include "io/tokenizer/tokenizer.h"
#include "io/tokenizer/unicode.h"
#include "util/error.h"

namespace {

std::unique_ptr<patchlm::Tokenizer> make_tokenizer() {
  using nlohmann::json;
  json vocab = json::object();
  const auto& alphabet = patchlm::tok::byte_to_unicode();
  for (int b = 0; b < 256; ++b) vocab[alphabet[b]] = b;
  json merges = json::array();
  std::uint32_t next = 256;
  for (auto [a, b] : std::vector<std::pair<std::string, std::string>>{
           {"t", "h"}, {"th", "e"}, {"\xC4\xA0", "the"}, {"i", "n"}, {"in", "g"}, {"\xC4\xA0", "\xC4\xA0"}, {"e", "r"}}) {
    merges.push_back(a + " " + b);
    vocab[a + b] = next++;
  }
  json added = json::array({
      {{"id", next}, {"content", "<|special|>"}, {"special", true}, {"normalized", false}, {"lstrip", false},
       {"rstrip", false}, {"single_word", false}},
      {{"id", next + 1}, {"content", "<mask>"}, {"special", false}, {"normalized", false}, {"lstrip", true},
       {"rstrip", true}, {"single_word", false}},
      {{"id", next + 2}, {"content", "word"}, {"special", false}, {"normalized", true}, {"lstrip", false},
       {"rstrip", false}, {"single_word", true}},
  });
  json split = {{"type", "Split"},
                {"pattern", {{"Regex", R"((?i:'s|'t|'re)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}}},
                {"behavior", "Isolated"},
                {"invert", false}};
  json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
  json tokenizer = {
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}, {"ignore_merges", true}}},
      {"normalizer", {{"type", "NFC"}}},
      {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", json::array({split, byte_level})}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}}},
      {"added_tokens", added},
  };
  auto dir = std::filesystem::temp_directory_path() / ("patchlm-fuzz-tokenizer-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "tokenizer.json") << tokenizer.dump();
  auto tok = std::make_unique<patchlm::Tokenizer>(patchlm::Tokenizer::from_json_file(dir / "tokenizer.json"));
  std::filesystem::remove_all(dir);
  return tok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static std::unique_ptr<patchlm::Tokenizer> tok = make_tokenizer();
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::int64_t> ids = tok->encode(text, true);
  std::string back = tok->decode(ids, false);
  // Without added tokens or NFC changes in play, byte-level BPE reproduces valid input exactly.
  if (patchlm::tok::is_valid_utf8(text) && patchlm::tok::nfc(text) == text && text.find('<') == std::string_view::npos &&
      text.find("word") == std::string_view::npos && back != text) {
    std::fprintf(stderr, "round trip failed\n");
    __builtin_trap();
  }
  return 0;
}
