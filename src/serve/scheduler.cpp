#include "serve/scheduler.h"

#include <algorithm>

#include "util/log.h"

namespace patchlm::serve {

std::vector<std::int64_t> Job::wait_beyond(std::size_t seen, bool* done_out) {
  std::unique_lock lock(mutex);
  changed.wait(lock, [&] { return done || tokens.size() > seen; });
  *done_out = done;
  return tokens;
}

Scheduler::Scheduler(Engine& engine, std::size_t max_in_flight)
    : engine_(engine), batcher_(std::make_unique<Batcher>(engine)), max_in_flight_(max_in_flight),
      thread_([this] { loop(); }) {}

Scheduler::~Scheduler() { drain(); }

bool Scheduler::submit(const std::shared_ptr<Job>& job) {
  std::lock_guard lock(mutex_);
  if (draining_ || in_flight_.load() >= max_in_flight_) return false;
  ++in_flight_;
  incoming_.push_back(job);
  wake_.notify_one();
  return true;
}

void Scheduler::drain() {
  {
    std::lock_guard lock(mutex_);
    draining_ = true;
    wake_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

void Scheduler::loop() {
  auto end = [this](const std::shared_ptr<Job>& job, FinishReason finish, const std::string& error) {
    active_.erase(std::remove(active_.begin(), active_.end(), job), active_.end());
    {
      std::lock_guard lock(job->mutex);
      job->done = true;
      job->finish = finish;
      job->error = error;
    }
    job->changed.notify_all();
    --in_flight_;
    ++completed_;
  };
  while (true) {
    std::vector<std::shared_ptr<Job>> arrived;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return !incoming_.empty() || !batcher_->idle() || draining_; });
      if (draining_ && incoming_.empty() && batcher_->idle()) return;
      arrived.swap(incoming_);
    }
    for (const std::shared_ptr<Job>& job : arrived) {
      active_.push_back(job);
      try {
        batcher_->add(
            job->request,
            [job](std::int64_t token) {
              {
                std::lock_guard lock(job->mutex);
                job->tokens.push_back(token);
              }
              job->changed.notify_all();
              return !job->cancelled.load();
            },
            [job, end](const GenerationResult& r) { end(job, r.finish, ""); });
      } catch (const std::exception& e) {
        end(job, FinishReason::stop, e.what());
      }
    }
    try {
      batcher_->step();
    } catch (const std::exception& e) {  // an engine failure: every request in flight learns it; the server goes on
      log_error("generation step failed", {{"error", e.what()}});
      for (const std::shared_ptr<Job>& job : std::vector<std::shared_ptr<Job>>(active_)) end(job, FinishReason::stop, e.what());
      batcher_ = std::make_unique<Batcher>(engine_);
    }
  }
}

}  // namespace patchlm::serve
