#pragma once
// A one-line terminal progress bar with rate and ETA, redrawn in place on stderr:
//
//   learn step  [##########··········]   512/1024  50%  1.23k tok/s  00:41<00:41
//
// It is drawn only when both stdout and stderr are terminals and --quiet was not given, so logs, pipes and CI
// output stay clean. Redraws are throttled (10 per second) so a hot loop can call advance() freely.
#include <chrono>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

namespace patchlm {

struct ProgressStyle {
  std::string unit = "it";  // what is counted: "it", "tok", "block", ...
  int bar_width = 20;
};

class Progress {
 public:
  using Clock = std::function<double()>;  // seconds, monotonic

  // total == 0 means unknown: the line shows the count and the rate, no bar and no ETA.
  Progress(std::string label, std::int64_t total, ProgressStyle style = {});
  // For tests and special sinks: draw on `out` when `enabled`, reading time from `clock`.
  Progress(std::string label, std::int64_t total, ProgressStyle style, std::ostream* out, bool enabled, Clock clock);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void advance(std::int64_t n = 1);
  void set(std::int64_t done);
  // Draws the final state and ends the line. Called by the destructor if not called before.
  void finish();

  std::int64_t done() const { return done_; }
  bool enabled() const { return enabled_; }

  // Turns every bar off for this process (--quiet).
  static void set_quiet(bool quiet);
  static bool quiet();

  // The text of one line, without carriage return. Pure: tested directly.
  static std::string format_line(const std::string& label, std::int64_t done, std::int64_t total,
                                 double elapsed_s, const ProgressStyle& style);

 private:
  void draw(bool final);

  std::string label_;
  std::int64_t total_;
  ProgressStyle style_;
  std::ostream* out_;
  bool enabled_;
  Clock clock_;
  double start_ = 0;
  double last_draw_ = -1;
  std::int64_t done_ = 0;
  bool finished_ = false;
};

// "00:41", "1:02:03" — for elapsed time and ETA.
std::string format_duration(double seconds);
// "12.3", "1.23k", "4.56M" — three significant digits.
std::string format_rate(double per_second);

}  // namespace patchlm
