#include "serve/server.h"

#include <httplib.h>

#include <ctime>

#include "serve/openai_api.h"
#include "util/error.h"
#include "util/log.h"

namespace patchlm::serve {
namespace {

using nlohmann::json;

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void reply_error(httplib::Response& res, const ApiError& e) { reply(res, e.status, error_body(e)); }

ApiError api_error(int status, std::string message, std::string type, std::string code = "", std::string param = "") {
  ApiError e;
  e.status = status;
  e.message = std::move(message);
  e.type = std::move(type);
  e.code = std::move(code);
  e.param = std::move(param);
  return e;
}

const char* finish_name(FinishReason r, bool stopped_by_string) {
  if (stopped_by_string) return "stop";
  return r == FinishReason::length || r == FinishReason::context ? "length" : "stop";
}

}  // namespace

// The text of a job as it grows: decoded again from all its tokens, cut at the first stop string.
struct Server::Handling {
  std::shared_ptr<Job> job;
  const Tokenizer* tokenizer;
  std::vector<std::string> stop;
  std::string text;        // decoded so far (cut at a stop string once one is found)
  bool stopped_by_string = false;
  std::size_t seen = 0;

  // Waits for more tokens; returns false once the job is done (text final).
  bool advance() {
    bool done = false;
    const std::vector<std::int64_t> tokens = job->wait_beyond(seen, &done);
    seen = tokens.size();
    text = tokenizer->decode(tokens, /*skip_special_tokens=*/true);
    if (const std::size_t at = first_stop(text, stop); at != std::string::npos) {
      text.resize(at);
      stopped_by_string = true;
      job->cancelled = true;
      std::unique_lock lock(job->mutex);
      job->changed.wait(lock, [&] { return job->done; });
      return false;
    }
    return !done;
  }
  std::size_t shown() const { return stopped_by_string ? text.size() : safe_prefix(text, stop); }
};

Server::Server(Engine& engine, const Tokenizer& tokenizer, std::optional<ChatTemplate> chat, ServeOptions options)
    : engine_(engine),
      tokenizer_(tokenizer),
      chat_(std::move(chat)),
      options_(std::move(options)),
      scheduler_(engine, engine.max_batch() + options_.max_queue),
      http_(std::make_unique<httplib::Server>()) {
  if (chat_) end_of_turn_ = tokenizer.token_to_id(chat_->end_of_turn());
  // One handler thread per request that can be in flight, plus a few for /health and refusals.
  const std::size_t threads = static_cast<std::size_t>(engine.max_batch()) + options_.max_queue + 8;
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http_->set_payload_max_length(16 << 20);
  routes();
}

Server::~Server() = default;

int Server::bind() {
  const int port = options_.port == 0 ? http_->bind_to_any_port(options_.host)
                                      : (http_->bind_to_port(options_.host, options_.port) ? options_.port : -1);
  if (port < 0) throw Error(str_cat("serve: cannot listen on ", options_.host, ":", options_.port, " (port in use?)"));
  return port;
}

void Server::run() { http_->listen_after_bind(); }

void Server::stop() {
  stopping_ = true;
  http_->stop();
}

void Server::routes() {
  auto authorized = [this](const httplib::Request& req, httplib::Response& res) {
    if (options_.api_key.empty() || req.get_header_value("Authorization") == "Bearer " + options_.api_key) return true;
    reply_error(res, api_error(401, "Incorrect API key provided", "invalid_request_error", "invalid_api_key"));
    return false;
  };
  http_->Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    reply(res, stopping_ ? 503 : 200,
          {{"status", stopping_ ? "draining" : "ok"}, {"model", options_.model_name}, {"in_flight", scheduler_.in_flight()}});
  });
  http_->Get("/v1/models", [this, authorized](const httplib::Request& req, httplib::Response& res) {
    if (!authorized(req, res)) return;
    reply(res, 200,
          {{"object", "list"},
           {"data", json::array({{{"id", options_.model_name}, {"object", "model"}, {"created", 0}, {"owned_by", "patchlm"}}})}});
  });
  for (bool chat : {false, true}) {
    http_->Post(chat ? "/v1/chat/completions" : "/v1/completions",
                [this, chat, authorized](const httplib::Request& req, httplib::Response& res) {
      if (!authorized(req, res)) return;
      if (stopping_) return reply_error(res, api_error(503, "the server is shutting down", "server_error", "shutting_down"));
      ApiRequest a;
      try {
        a = parse_request(req.body, chat);
      } catch (const ApiError& e) {
        return reply_error(res, e);
      }
      if (a.model != options_.model_name)
        return reply_error(res, api_error(404, "The model '" + a.model + "' does not exist (this server has '" +
                                                   options_.model_name + "')",
                                          "invalid_request_error", "model_not_found", "model"));
      GenerationRequest g;
      if (chat) {
        if (!chat_ || !end_of_turn_)
          return reply_error(res, api_error(400, "this model's tokenizer has no chat template", "invalid_request_error",
                                            "", "messages"));
        try {
          g.prompt = tokenizer_.encode(chat_->render(a.messages, true), /*add_special_tokens=*/false);
        } catch (const std::exception& e) {
          return reply_error(res, api_error(400, e.what(), "invalid_request_error", "", "messages"));
        }
        g.stop_tokens = {*end_of_turn_};
      } else {
        g.prompt = a.prompt_ids.empty() ? tokenizer_.encode(a.prompt) : a.prompt_ids;
      }
      const std::int64_t context = engine_.max_context(), prompt = static_cast<std::int64_t>(g.prompt.size());
      for (std::int64_t id : g.prompt)
        if (id < 0 || id >= engine_.config().vocab_size)
          return reply_error(res, api_error(400, str_cat("token id ", id, " is outside the vocabulary"), "invalid_request_error", "", "prompt"));
      const std::int64_t max_tokens = a.max_tokens.value_or(context - prompt - 1);
      if (prompt < 1 || prompt + max_tokens > context - 1)
        return reply_error(res, api_error(400,
                                          str_cat("this model's context holds ", context - 1, " tokens; the request has ",
                                                  prompt, " in the prompt and asks for ", max_tokens, " more"),
                                          "invalid_request_error", "context_length_exceeded", chat ? "messages" : "prompt"));
      g.options.max_new_tokens = max_tokens;
      g.options.temperature = a.temperature;
      g.options.top_p = a.top_p;
      g.options.top_k = a.top_k;
      g.options.seed = a.seed;
      auto job = std::make_shared<Job>();
      job->request = std::move(g);
      if (!scheduler_.submit(job))
        return reply_error(res, api_error(429, "the server is busy: every slot and queue place is taken; retry later",
                                          "rate_limit_error", "server_busy"));
      Completion c;
      c.id = str_cat(chat ? "chatcmpl-" : "cmpl-", next_id_++);
      c.model = options_.model_name;
      c.created = static_cast<std::int64_t>(std::time(nullptr));
      c.prompt_tokens = prompt;
      auto h = std::make_shared<Handling>();
      h->job = job;
      h->tokenizer = &tokenizer_;
      h->stop = a.stop;
      auto finish = [job, h](Completion& done) {
        std::lock_guard lock(job->mutex);
        done.completion_tokens = static_cast<std::int64_t>(job->tokens.size());
        done.finish_reason = finish_name(job->finish, h->stopped_by_string);
        return job->error;
      };
      if (!a.stream) {
        while (h->advance()) {
        }
        if (const std::string error = finish(c); !error.empty())
          return reply_error(res, api_error(500, error, "server_error"));
        c.text = h->text;
        return reply(res, 200, response_body(c, chat));
      }
      const bool usage = a.include_usage;
      res.set_chunked_content_provider("text/event-stream", [h, c, chat, usage, finish](std::size_t, httplib::DataSink& sink) mutable {
        auto send = [&](const json& j) {
          const std::string event = "data: " + j.dump() + "\n\n";
          return sink.is_writable() && sink.write(event.data(), event.size());
        };
        std::size_t sent = 0;
        bool first = true, more = true;
        if (chat && !send(chunk_body(c, chat, "", true, false))) {  // the role first, as OpenAI streams it
          h->job->cancelled = true;
          return false;
        }
        first = false;
        while (more) {
          more = h->advance();
          const std::size_t shown = more ? h->shown() : h->text.size();
          if (shown > sent) {
            if (!send(chunk_body(c, chat, h->text.substr(sent, shown - sent), first, false))) {
              h->job->cancelled = true;  // the client is gone: its slot goes to the next request
              return false;
            }
            sent = shown;
          }
        }
        const std::string error = finish(c);
        if (!error.empty()) send(error_body(api_error(500, error, "server_error")));
        send(chunk_body(c, chat, "", false, true));
        if (usage) send(usage_chunk_body(c, chat));
        const std::string done = "data: [DONE]\n\n";
        sink.write(done.data(), done.size());
        sink.done();
        return true;
      });
    });
  }
}

}  // namespace patchlm::serve
