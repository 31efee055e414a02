#pragma once
// Chat prompts in the formats of the families patchlm runs, recognised from the Jinja chat template of the
// tokenizer's config (tokenizer_config.json, or the GGUF's tokenizer.chat_template) — patchlm renders them itself,
// with the same text Hugging Face's apply_chat_template gives for plain conversations:
//   llama3   <|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>... (LLaMA-3.x; the 3.1+
//            "Cutting Knowledge Date" system preamble when the template has it)
//   chatml   <|im_start|>user\nHi<|im_end|>\n...  (Qwen-2.5/3, SmolLM2; the template's default system prompt when
//            it injects one)
//   gemma    <bos><start_of_turn>user\nHi<end_of_turn>\n... (system text prefixed to the first user turn)
#include <string>
#include <vector>

namespace patchlm {

struct ChatMessage {
  std::string role;  // system, user or assistant
  std::string content;
};

class ChatTemplate {
 public:
  enum class Dialect { llama3, chatml, gemma };

  // Error naming `source` when the template is empty or none of the three formats.
  static ChatTemplate recognise(const std::string& jinja, const std::string& bos_token, const std::string& source);

  // The prompt text (to tokenize without adding special tokens): the conversation, then the assistant's header when
  // add_generation_prompt. Error for a role other than system, user, assistant.
  std::string render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;
  // The token text that ends an assistant turn.
  std::string end_of_turn() const;
  Dialect dialect() const { return dialect_; }
  const char* name() const;

 private:
  Dialect dialect_ = Dialect::chatml;
  std::string bos_;
  std::string default_system_;   // chatml
  bool knowledge_date_ = false;  // llama3.1+
};

}  // namespace patchlm
