#include "util/progress.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "util/terminal.h"

namespace patchlm {
namespace {

std::atomic<bool> g_quiet{false};
constexpr double kRedrawInterval = 0.1;  // seconds

double steady_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

std::string printf_string(const char* fmt, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, value);
  return buf;
}

std::string bar(std::int64_t done, std::int64_t total, int width) {
  double frac = std::clamp(static_cast<double>(done) / static_cast<double>(total), 0.0, 1.0);
  int filled = static_cast<int>(std::floor(frac * width));
  std::string s = "[";
  s.append(static_cast<std::size_t>(filled), '#');
  s.append(static_cast<std::size_t>(width - filled), '.');
  s += "]";
  return s;
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  auto total = static_cast<long long>(std::llround(seconds));
  long long h = total / 3600, m = (total / 60) % 60, s = total % 60;
  char buf[32];
  if (h > 0) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", h, m, s);
  } else {
    std::snprintf(buf, sizeof buf, "%02lld:%02lld", m, s);
  }
  return buf;
}

std::string format_rate(double per_second) {
  if (!std::isfinite(per_second) || per_second < 0) return "?";
  const char* suffix = "";
  if (per_second >= 1e9) {
    per_second /= 1e9;
    suffix = "G";
  } else if (per_second >= 1e6) {
    per_second /= 1e6;
    suffix = "M";
  } else if (per_second >= 1e3) {
    per_second /= 1e3;
    suffix = "k";
  }
  const char* fmt = per_second >= 100 ? "%.0f" : per_second >= 10 ? "%.1f" : "%.2f";
  return printf_string(fmt, per_second) + suffix;
}

std::string Progress::format_line(const std::string& label, std::int64_t done, std::int64_t total,
                                  double elapsed_s, const ProgressStyle& style) {
  double rate = elapsed_s > 0 ? static_cast<double>(done) / elapsed_s : 0.0;
  std::string line = label;
  char buf[96];
  if (total > 0) {
    int width = static_cast<int>(std::to_string(total).size());
    long long pct = static_cast<long long>(std::floor(100.0 * static_cast<double>(std::min(done, total)) /
                                                      static_cast<double>(total)));
    std::snprintf(buf, sizeof buf, " %*lld/%lld %3lld%%", width, static_cast<long long>(done),
                  static_cast<long long>(total), pct);
    line += " " + bar(done, total, style.bar_width) + buf;
  } else {
    std::snprintf(buf, sizeof buf, " %lld", static_cast<long long>(done));
    line += buf;
  }
  line += "  " + (elapsed_s > 0 ? format_rate(rate) : std::string("?")) + " " + style.unit + "/s";
  line += "  " + format_duration(elapsed_s);
  if (total > 0) {
    double eta = (rate > 0) ? static_cast<double>(std::max<std::int64_t>(total - done, 0)) / rate : -1.0;
    line += "<" + (done >= total ? format_duration(0) : format_duration(eta));
  }
  return line;
}

void Progress::set_quiet(bool quiet) { g_quiet = quiet; }
bool Progress::quiet() { return g_quiet; }

Progress::Progress(std::string label, std::int64_t total, ProgressStyle style)
    : Progress(std::move(label), total, std::move(style), &std::cerr,
               !g_quiet && stdout_is_terminal() && stderr_is_terminal(), steady_seconds) {}

Progress::Progress(std::string label, std::int64_t total, ProgressStyle style, std::ostream* out, bool enabled,
                   Clock clock)
    : label_(std::move(label)),
      total_(total),
      style_(std::move(style)),
      out_(out),
      enabled_(enabled && out != nullptr),
      clock_(std::move(clock)) {
  start_ = clock_();
  if (enabled_) draw(false);
}

Progress::~Progress() { finish(); }

void Progress::advance(std::int64_t n) { set(done_ + n); }

void Progress::set(std::int64_t done) {
  done_ = done;
  if (!enabled_ || finished_) return;
  if (clock_() - last_draw_ >= kRedrawInterval) draw(false);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_) draw(true);
}

void Progress::draw(bool final) {
  double now = clock_();
  last_draw_ = now;
  std::string line = format_line(label_, done_, total_, now - start_, style_);
  // \r returns to column 0, \x1b[K clears what a longer previous line left behind.
  *out_ << '\r' << line << "\x1b[K";
  if (final) *out_ << '\n';
  out_->flush();
}

}  // namespace patchlm
