#pragma once
// The OpenAI API as patchlm serves it: request bodies of /v1/completions and /v1/chat/completions checked field by
// field and turned into generation settings, and the response objects, streamed chunks and error objects, shaped
// as the OpenAI clients expect them (https://platform.openai.com/docs/api-reference). Torch-free text in and out.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/chat_template.h"

namespace patchlm::serve {

// A request the server cannot take: HTTP status, OpenAI error type, the parameter and an optional code.
struct ApiError {
  int status = 400;
  std::string message, type = "invalid_request_error", param, code;
};
nlohmann::json error_body(const ApiError& e);

struct ApiRequest {
  bool chat = false;
  std::string model;
  std::string prompt;                       // completions: the text
  std::vector<std::int64_t> prompt_ids;     // completions: token ids instead of text
  std::vector<ChatMessage> messages;        // chat
  std::optional<std::int64_t> max_tokens;   // default: 16 (completions), the rest of the context (chat)
  double temperature = 1.0, top_p = 1.0;
  std::int64_t top_k = 0;
  std::uint64_t seed = 0;
  std::vector<std::string> stop;            // at most 4
  bool stream = false;
  bool include_usage = false;               // stream_options.include_usage
};

// Throws ApiError naming the field for a malformed body (types, ranges, n != 1, unknown roles).
ApiRequest parse_request(const std::string& body, bool chat);

// The longest prefix of `text` that can be shown while the generation goes on: without a trailing incomplete
// UTF-8 character (decoded as U+FFFD) and without a tail that could still grow into a stop string.
std::size_t safe_prefix(const std::string& text, const std::vector<std::string>& stop);
// Where the first stop string starts in `text` (npos when none).
std::size_t first_stop(const std::string& text, const std::vector<std::string>& stop);

struct Completion {
  std::string id, model, text, finish_reason;
  std::int64_t created = 0, prompt_tokens = 0, completion_tokens = 0;
};
nlohmann::json response_body(const Completion& c, bool chat);
// One server-sent event's JSON: a text delta (or the role, first, for chat), or the final chunk with finish_reason.
nlohmann::json chunk_body(const Completion& c, bool chat, const std::string& delta, bool first, bool last);
nlohmann::json usage_chunk_body(const Completion& c, bool chat);

}  // namespace patchlm::serve
