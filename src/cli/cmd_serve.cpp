// `patchlm serve MODEL [--host 127.0.0.1] [--port 8080] [--device cuda] [--max-batch N] [--max-context T]
// [--api-key KEY] [--graph-prefill-tokens N]`: the OpenAI-compatible server (serve/server.h). SIGINT / SIGTERM stop
// accepting, let every request in flight finish, and exit 0.
#include <signal.h>

#include <filesystem>
#include <iostream>
#include <thread>

#include "cli/command.h"
#include "cli/options.h"
#include "engine/chat_template.h"
#include "engine/engine.h"
#include "io/tokenizer/tokenizer.h"
#include "kernels/hybrid_model.h"
#if PATCHLM_HAVE_SERVE
#include "serve/server.h"
#endif
#include "util/error.h"
#include "util/interrupt.h"
#include "util/log.h"

namespace patchlm::cli {
namespace {

#if PATCHLM_HAVE_SERVE
using serve::ServeOptions;
#else
struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string api_key, model_name;
  std::size_t max_queue = 64;
};
#endif

struct ServeFlags {
  std::string model, tokenizer, dtype = "auto", device = "cpu";
  std::int64_t max_batch = 8, max_context = 2048;
  std::int64_t graph_prefill_tokens = 512;  // the engine takes at most its context; a larger value given is refused
  ServeOptions options;
};

[[maybe_unused]] std::string default_model_name(const std::string& model) {
  std::filesystem::path p(model);
  while (!p.empty() && !p.has_filename()) p = p.parent_path();  // "dir/" → "dir"
  return std::filesystem::is_directory(p) ? p.filename().string() : p.stem().string();
}

#if !PATCHLM_HAVE_SERVE
int run_serve(ServeFlags&) {
  throw Error("serve: this patchlm was built without cpp-httplib (apt-get install libcpp-httplib-dev, then rebuild)");
}
#else
int run_serve(ServeFlags& f) {
  if (f.options.model_name.empty()) f.options.model_name = default_model_name(f.model);
  signal(SIGPIPE, SIG_IGN);  // a client that leaves is a failed write, not the end of the server

  const Tokenizer tok = Tokenizer::from_model(f.tokenizer.empty() ? f.model : f.tokenizer);
  std::optional<ChatTemplate> chat;
  if (!tok.chat_template().empty()) {
    try {
      chat = ChatTemplate::recognise(tok.chat_template(), tok.bos_token(), f.model);
    } catch (const Error& e) {
      log_warn("chat completions disabled", {{"reason", e.what()}});
    }
  }
  EngineOptions eo;
  eo.max_batch = f.max_batch;
  eo.max_context = f.max_context;
  eo.graph_prefill_tokens = f.graph_prefill_tokens;
  Engine engine(kernels::load_model(f.model, parse_model_dtype("--dtype", f.dtype), parse_device("--device", f.device)), eo);
  serve::Server server(engine, tok, chat, f.options);
  const int port = server.bind();
  // SIGINT / SIGTERM (util/interrupt): stop accepting, answer what is in flight, then exit 0.
  InterruptAction on_signal([&server](int sig) {
    log_info("stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}, {"note", "finishing the requests in flight"}});
    server.stop();
  });
  std::cout << "patchlm serve: listening on http://" << f.options.host << ":" << port << " (model "
            << f.options.model_name << ", " << f.max_batch << " slots of " << f.max_context << " tokens, "
            << (chat ? std::string("chat format ") + chat->name() : std::string("no chat template")) << ")" << std::endl;
  server.run();
  std::cout << "patchlm serve: stopped after " << server.completed() << " requests" << std::endl;
  return 0;
}
#endif

}  // namespace

Command add_serve_command(CLI::App& root, const GlobalOptions&) {
  auto f = std::make_shared<ServeFlags>();
  auto* app = root.add_subcommand("serve", "OpenAI-compatible HTTP server (completions, chat, streaming), continuous batching");
  app->add_option("model", f->model, "HF model directory, GGUF file or hybrid checkpoint")->required();
  app->add_option("--host", f->options.host, "Address to listen on")->capture_default_str();
  app->add_option("--port", f->options.port, "Port (0 = any free port)")->capture_default_str();
  app->add_option("--api-key", f->options.api_key, "Require this key as 'Authorization: Bearer KEY'");
  app->add_option("--model-name", f->options.model_name, "The model id clients use (default: MODEL's file or folder name)");
  app->add_option("--max-batch", f->max_batch, "Sequences decoded together (slots)")->capture_default_str();
  app->add_option("--max-context", f->max_context, "Tokens per sequence, prompt included")->capture_default_str();
  // A server prefills the same few prompt lengths over and over, so each bucket's capture pays off; `generate` and
  // `chat` prefill once per length, where a capture would cost more than the eager pass it replaces. 100-token prompts
  // on an H100: 1.14x (dense 7B) and 1.08x (σ = 35 %) the eager pass's tokens/s (docs/performance.md).
  app->add_option("--graph-prefill-tokens", f->graph_prefill_tokens,
                  "A prompt of up to this many tokens (and --max-context) prefilled alone replays a CUDA graph per token "
                  "bucket (0: every prefill eager)")
      ->capture_default_str();
  app->add_option("--max-queue", f->options.max_queue, "Requests that may wait for a slot (more: 429)")->capture_default_str();
  app->add_option("--tokenizer", f->tokenizer, "Tokenizer (and chat template) from this source instead");
  app->add_option("--dtype", f->dtype, "Compute dtype: auto (bf16 for a hybrid checkpoint on CUDA, else f32), f32, bf16")
      ->capture_default_str();
  app->add_option("--device", f->device, "cpu or cuda[:N]")->capture_default_str();
  return {app, [f, app] {
            if (f->options.port < 0 || f->options.port > 65535) throw UsageError(str_cat("--port: ", f->options.port, " is not a port"));
            if (f->max_batch < 1 || f->max_batch > 1024) throw UsageError("--max-batch: must be in 1..1024");
            if (f->max_context < 2) throw UsageError("--max-context: must be at least 2");
            if (f->graph_prefill_tokens < 0 || (app->count("--graph-prefill-tokens") && f->graph_prefill_tokens > f->max_context))
              throw UsageError(str_cat("--graph-prefill-tokens: ", f->graph_prefill_tokens, " is outside 0..", f->max_context,
                                       " (--max-context)"));
            return run_serve(*f);
          }};
}

}  // namespace patchlm::cli
