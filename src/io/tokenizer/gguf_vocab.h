#pragma once
// The tokenizer embedded in a GGUF file, as the tokenizer.json document (and tokenizer_config.json) that the
// `tokenizers` library and transformers' AutoTokenizer load — built the way transformers builds its tokenizer from
// the same metadata, so both give identical ids:
//   tokenizer.ggml.model = "gpt2"  → byte-level BPE with the file's merges; the split regex is chosen by
//                                    tokenizer.ggml.pre (LLaMA-3 and Qwen2 families; GPT-2's otherwise).
//   tokenizer.ggml.model = "llama" on Gemma architectures → SentencePiece-style BPE with byte fallback; the file
//                                    has no merges, so they are rebuilt from the vocabulary in token order.
// Control tokens become special added tokens, user-defined ones plain added tokens. Tokenizer::from_gguf loads
// exactly this document, so `patchlm convert` writes what patchlm itself tokenizes with.
#include <string>

#include <nlohmann/json.hpp>

namespace patchlm {

struct GgufHeader;

// The tokenizer.json document; Error naming `source` and the key for unsupported or malformed vocabularies.
nlohmann::json tokenizer_json_from_gguf(const GgufHeader& header, const std::string& source);

// tokenizer_config.json: special token names, add_bos/add_eos, the context length and the chat template
// (tokenizer.chat_template) when the file carries one.
nlohmann::ordered_json tokenizer_config_from_gguf(const GgufHeader& header, const std::string& source);

}  // namespace patchlm
