#pragma once
// `patchlm serve`: an OpenAI-compatible HTTP server (cpp-httplib) over the generation engine —
//   GET  /health                 liveness and the requests in flight
//   GET  /v1/models              the one model served
//   POST /v1/completions         text (or token ids) in, text out
//   POST /v1/chat/completions    messages in the model family's chat format (engine/chat_template)
// with `stream: true` as server-sent events. Requests join the engine's running batch through the scheduler
// (continuous batching); a full queue answers 429, a bad request the OpenAI error object with a 4xx status. stop()
// (SIGTERM) stops accepting and lets every request in flight finish.
#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "engine/chat_template.h"
#include "engine/engine.h"
#include "io/tokenizer/tokenizer.h"
#include "serve/scheduler.h"

namespace httplib {
class Server;
}

namespace patchlm::serve {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8080;              // 0 = any free port
  std::string api_key;          // required as "Authorization: Bearer KEY" when set
  std::string model_name;       // the id clients send as "model"
  std::size_t max_queue = 64;   // requests waiting for a slot beyond the running batch
};

class Server {
 public:
  // `chat` is absent when the tokenizer has no chat template (chat requests then answer 400).
  Server(Engine& engine, const Tokenizer& tokenizer, std::optional<ChatTemplate> chat, ServeOptions options);
  ~Server();

  // Binds the socket; returns the port (Error naming host and port when it cannot).
  int bind();
  // Serves until stop(); returns once every request in flight has been answered.
  void run();
  // Thread-safe: refuse new requests (503) and end run().
  void stop();
  std::size_t completed() const { return scheduler_.completed(); }

 private:
  struct Handling;
  void routes();

  Engine& engine_;
  const Tokenizer& tokenizer_;
  std::optional<ChatTemplate> chat_;
  std::optional<std::int64_t> end_of_turn_;
  ServeOptions options_;
  Scheduler scheduler_;
  std::unique_ptr<httplib::Server> http_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> next_id_{1};
};

}  // namespace patchlm::serve
