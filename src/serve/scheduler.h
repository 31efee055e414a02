#pragma once
// The server's scheduler: one thread owns the engine and runs its Batcher, so requests from any number of HTTP
// threads join the running batch at the next step boundary and leave it as soon as they end (continuous batching).
// A request is a Job: the HTTP side waits on it for new tokens and may cancel it (client gone, stop string found);
// the scheduler fills it. The number of jobs in flight is bounded (the HTTP side answers 429 beyond).
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/generation.h"

namespace patchlm::serve {

struct Job {
  GenerationRequest request;
  std::atomic<bool> cancelled{false};

  // Filled by the scheduler thread, read under `mutex`.
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::int64_t> tokens;
  bool done = false;
  FinishReason finish = FinishReason::length;
  std::string error;  // the request could not run

  // Waits until more than `seen` tokens exist or the job is done; returns a copy of all tokens so far.
  std::vector<std::int64_t> wait_beyond(std::size_t seen, bool* done_out);
};

class Scheduler {
 public:
  // `max_in_flight`: jobs accepted at once (running + waiting for a slot).
  Scheduler(Engine& engine, std::size_t max_in_flight);
  ~Scheduler();  // drains, then joins the thread

  // Queues `job`; false when `max_in_flight` jobs are already in flight.
  bool submit(const std::shared_ptr<Job>& job);
  // Lets every accepted job finish, then ends the thread. No job is accepted afterwards.
  void drain();

  std::size_t in_flight() const { return in_flight_.load(); }
  std::size_t completed() const { return completed_.load(); }

 private:
  void loop();

  Engine& engine_;
  std::unique_ptr<Batcher> batcher_;
  std::vector<std::shared_ptr<Job>> active_;  // accepted and not yet done (scheduler thread only)
  const std::size_t max_in_flight_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::shared_ptr<Job>> incoming_;
  bool draining_ = false;
  std::atomic<std::size_t> in_flight_{0}, completed_{0};
  std::thread thread_;
};

}  // namespace patchlm::serve
