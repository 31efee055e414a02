#include "engine/chat_template.h"

#include <regex>

#include "util/error.h"

namespace patchlm {
namespace {

bool contains(const std::string& s, const char* needle) { return s.find(needle) != std::string::npos; }

// Jinja's `trim`: surrounding whitespace removed.
std::string trim(const std::string& s) {
  const char* ws = " \t\n\r\f\v";
  const std::size_t a = s.find_first_not_of(ws);
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(ws) - a + 1);
}

void check_role(const ChatMessage& m) {
  if (m.role != "system" && m.role != "user" && m.role != "assistant")
    throw Error(str_cat("chat: role ", in_quotes(m.role), " is not system, user or assistant"));
}

}  // namespace

ChatTemplate ChatTemplate::recognise(const std::string& jinja, const std::string& bos_token, const std::string& source) {
  if (jinja.empty()) throw Error(str_cat(source, ": the tokenizer has no chat template"));
  ChatTemplate t;
  t.bos_ = bos_token;
  if (contains(jinja, "<|start_header_id|>")) {
    t.dialect_ = Dialect::llama3;
    t.knowledge_date_ = contains(jinja, "Cutting Knowledge Date");
  } else if (contains(jinja, "<|im_start|>")) {
    t.dialect_ = Dialect::chatml;
    // A system prompt the template writes itself when the conversation has none (a literal, not a variable).
    static const std::regex kDefault(R"(<\|im_start\|>system(?:\\n|\n)([^'"{}<]*)<\|im_end\|>)");
    std::smatch m;
    if (std::regex_search(jinja, m, kDefault)) t.default_system_ = m[1].str();
  } else if (contains(jinja, "<start_of_turn>")) {
    t.dialect_ = Dialect::gemma;
  } else {
    throw Error(str_cat(source, ": the chat template is none of the formats patchlm renders (llama3, chatml, gemma)"));
  }
  return t;
}

const char* ChatTemplate::name() const {
  switch (dialect_) {
    case Dialect::llama3: return "llama3";
    case Dialect::chatml: return "chatml";
    case Dialect::gemma: return "gemma";
  }
  return "?";
}

std::string ChatTemplate::end_of_turn() const {
  switch (dialect_) {
    case Dialect::llama3: return "<|eot_id|>";
    case Dialect::chatml: return "<|im_end|>";
    case Dialect::gemma: return "<end_of_turn>";
  }
  return "";
}

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const {
  for (const ChatMessage& m : messages) check_role(m);
  std::string out;
  switch (dialect_) {
    case Dialect::llama3: {
      out = bos_;
      std::size_t first = 0;
      if (knowledge_date_) {  // LLaMA-3.1+: a system block always, dated as the template's default
        const std::string system = !messages.empty() && messages[0].role == "system" ? trim(messages[0].content) : "";
        if (!messages.empty() && messages[0].role == "system") first = 1;
        out += "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n" +
               system + "<|eot_id|>";
      }
      for (std::size_t i = first; i < messages.size(); ++i)
        out += "<|start_header_id|>" + messages[i].role + "<|end_header_id|>\n\n" + trim(messages[i].content) + "<|eot_id|>";
      if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      break;
    }
    case Dialect::chatml: {
      if (!default_system_.empty() && (messages.empty() || messages[0].role != "system"))
        out += "<|im_start|>system\n" + default_system_ + "<|im_end|>\n";
      for (const ChatMessage& m : messages) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
      if (add_generation_prompt) out += "<|im_start|>assistant\n";
      break;
    }
    case Dialect::gemma: {
      out = bos_;
      std::string prefix;
      std::size_t first = 0;
      if (!messages.empty() && messages[0].role == "system") {
        prefix = messages[0].content + "\n\n";
        first = 1;
      }
      for (std::size_t i = first; i < messages.size(); ++i) {
        const bool user_turn = (i - first) % 2 == 0;
        if ((messages[i].role == "user") != user_turn)
          throw Error("chat: Gemma conversations must alternate user/assistant/user/assistant/...");
        out += "<start_of_turn>" + std::string(messages[i].role == "assistant" ? "model" : messages[i].role) + "\n" +
               (i == first ? prefix : "") + trim(messages[i].content) + "<end_of_turn>\n";
      }
      if (add_generation_prompt) out += "<start_of_turn>model\n";
      break;
    }
  }
  return out;
}

}  // namespace patchlm
