#include "serve/openai_api.h"

#include <algorithm>

namespace patchlm::serve {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& param, const std::string& message) {
  ApiError e;
  e.param = param;
  e.message = message;
  throw e;
}

double number(const json& body, const char* key, double fallback, double lo, double hi) {
  if (!body.contains(key) || body[key].is_null()) return fallback;
  if (!body[key].is_number()) bad(key, std::string("'") + key + "' must be a number");
  const double v = body[key].get<double>();
  if (!(v >= lo && v <= hi)) bad(key, std::string("'") + key + "' must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return v;
}

std::optional<std::int64_t> integer(const json& body, const char* key, std::int64_t lo) {
  if (!body.contains(key) || body[key].is_null()) return std::nullopt;
  if (!body[key].is_number_integer()) bad(key, std::string("'") + key + "' must be an integer");
  const std::int64_t v = body[key].get<std::int64_t>();
  if (v < lo) bad(key, std::string("'") + key + "' must be at least " + std::to_string(lo));
  return v;
}

std::string text_content(const json& content, const std::string& param) {
  if (content.is_string()) return content.get<std::string>();
  if (content.is_array()) {  // [{"type": "text", "text": ...}, ...]
    std::string out;
    for (const json& part : content) {
      if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string())
        bad(param, "only text content parts are supported");
      out += part["text"].get<std::string>();
    }
    return out;
  }
  bad(param, "'content' must be a string or a list of text parts");
}

bool ends_with_prefix_of(const std::string& text, const std::string& stop, std::size_t* length) {
  for (std::size_t n = std::min(stop.size() - 1, text.size()); n > 0; --n) {
    if (text.compare(text.size() - n, n, stop, 0, n) == 0) {
      *length = n;
      return true;
    }
  }
  return false;
}

}  // namespace

json error_body(const ApiError& e) {
  return {{"error",
           {{"message", e.message},
            {"type", e.type},
            {"param", e.param.empty() ? json(nullptr) : json(e.param)},
            {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}};
}

ApiRequest parse_request(const std::string& text, bool chat) {
  json body;
  try {
    body = json::parse(text);
  } catch (const json::exception& ex) {
    bad("", std::string("the body is not valid JSON: ") + ex.what());
  }
  if (!body.is_object()) bad("", "the body must be a JSON object");
  ApiRequest r;
  r.chat = chat;
  if (!body.contains("model") || !body["model"].is_string()) bad("model", "'model' is required and must be a string");
  r.model = body["model"].get<std::string>();
  if (chat) {
    if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty())
      bad("messages", "'messages' must be a non-empty list");
    for (std::size_t i = 0; i < body["messages"].size(); ++i) {
      const json& m = body["messages"][i];
      const std::string param = "messages[" + std::to_string(i) + "]";
      if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content"))
        bad(param, "every message needs a string 'role' and a 'content'");
      std::string role = m["role"].get<std::string>();
      if (role == "developer") role = "system";
      if (role != "system" && role != "user" && role != "assistant")
        bad(param + ".role", "role '" + role + "' is not system, developer, user or assistant");
      r.messages.push_back({role, text_content(m["content"], param + ".content")});
    }
  } else {
    if (!body.contains("prompt")) bad("prompt", "'prompt' is required");
    json p = body["prompt"];
    if (p.is_array() && p.size() == 1 && p[0].is_string()) p = p[0];
    if (p.is_string()) {
      r.prompt = p.get<std::string>();
      if (r.prompt.empty()) bad("prompt", "'prompt' is empty");
    } else if (p.is_array() && !p.empty() && std::all_of(p.begin(), p.end(), [](const json& x) { return x.is_number_integer(); })) {
      for (const json& x : p) r.prompt_ids.push_back(x.get<std::int64_t>());
    } else {
      bad("prompt", "'prompt' must be a non-empty string, a list of one string or a list of token ids");
    }
  }
  r.max_tokens = integer(body, chat && body.contains("max_completion_tokens") ? "max_completion_tokens" : "max_tokens", 1);
  if (!chat && !r.max_tokens) r.max_tokens = 16;
  r.temperature = number(body, "temperature", 1.0, 0.0, 2.0);
  r.top_p = number(body, "top_p", 1.0, 0.0, 1.0);
  if (r.top_p <= 0) bad("top_p", "'top_p' must be greater than 0");
  r.top_k = integer(body, "top_k", 0).value_or(0);
  r.seed = static_cast<std::uint64_t>(integer(body, "seed", 0).value_or(0));
  if (const auto n = integer(body, "n", 1); n && *n != 1) bad("n", "only n = 1 is supported");
  if (body.contains("stop") && !body["stop"].is_null()) {
    const json& s = body["stop"];
    if (s.is_string()) {
      r.stop.push_back(s.get<std::string>());
    } else if (s.is_array() && s.size() <= 4 && std::all_of(s.begin(), s.end(), [](const json& x) { return x.is_string(); })) {
      for (const json& x : s) r.stop.push_back(x.get<std::string>());
    } else {
      bad("stop", "'stop' must be a string or a list of at most 4 strings");
    }
    r.stop.erase(std::remove(r.stop.begin(), r.stop.end(), std::string()), r.stop.end());
  }
  if (body.contains("stream") && !body["stream"].is_null()) {
    if (!body["stream"].is_boolean()) bad("stream", "'stream' must be true or false");
    r.stream = body["stream"].get<bool>();
  }
  if (body.contains("stream_options") && body["stream_options"].is_object())
    r.include_usage = body["stream_options"].value("include_usage", false);
  return r;
}

std::size_t first_stop(const std::string& text, const std::vector<std::string>& stop) {
  std::size_t best = std::string::npos;
  for (const std::string& s : stop) best = std::min(best, text.find(s));
  return best;
}

std::size_t safe_prefix(const std::string& text, const std::vector<std::string>& stop) {
  std::size_t end = text.size();
  if (end >= 3 && text.compare(end - 3, 3, "\xEF\xBF\xBD") == 0) end -= 3;  // a character still arriving
  const std::string head = text.substr(0, end);
  std::size_t hold = 0;
  for (const std::string& s : stop) {
    std::size_t n = 0;
    if (ends_with_prefix_of(head, s, &n)) hold = std::max(hold, n);
  }
  return end - hold;
}

json response_body(const Completion& c, bool chat) {
  json choice = {{"index", 0}, {"finish_reason", c.finish_reason}, {"logprobs", nullptr}};
  if (chat) {
    choice["message"] = {{"role", "assistant"}, {"content", c.text}};
  } else {
    choice["text"] = c.text;
  }
  return {{"id", c.id},
          {"object", chat ? "chat.completion" : "text_completion"},
          {"created", c.created},
          {"model", c.model},
          {"choices", json::array({choice})},
          {"usage",
           {{"prompt_tokens", c.prompt_tokens},
            {"completion_tokens", c.completion_tokens},
            {"total_tokens", c.prompt_tokens + c.completion_tokens}}}};
}

json chunk_body(const Completion& c, bool chat, const std::string& delta, bool first, bool last) {
  json choice = {{"index", 0}, {"finish_reason", last ? json(c.finish_reason) : json(nullptr)}, {"logprobs", nullptr}};
  if (chat) {
    json d = json::object();
    if (first) d["role"] = "assistant";
    if (!delta.empty() || (!first && !last)) d["content"] = delta;
    choice["delta"] = d;
  } else {
    choice["text"] = delta;
  }
  return {{"id", c.id},
          {"object", chat ? "chat.completion.chunk" : "text_completion"},
          {"created", c.created},
          {"model", c.model},
          {"choices", json::array({choice})}};
}

json usage_chunk_body(const Completion& c, bool chat) {
  return {{"id", c.id},
          {"object", chat ? "chat.completion.chunk" : "text_completion"},
          {"created", c.created},
          {"model", c.model},
          {"choices", json::array()},
          {"usage",
           {{"prompt_tokens", c.prompt_tokens},
            {"completion_tokens", c.completion_tokens},
            {"total_tokens", c.prompt_tokens + c.completion_tokens}}}};
}

}  // namespace patchlm::serve
