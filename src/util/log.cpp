#include "util/log.h"

#include <array>
#include <atomic>
#include <chrono>
#include <ctime>
#include <iostream>
#include <mutex>

#include "util/error.h"

namespace patchlm {
namespace {

constexpr std::array<std::string_view, 6> kLevelNames = {"trace", "debug", "info", "warn", "error", "off"};

std::atomic<LogLevel> g_level{LogLevel::info};
std::atomic<LogFormat> g_format{LogFormat::text};
std::atomic<std::ostream*> g_stream{nullptr};
std::mutex g_mutex;

std::string utc_timestamp() {
  using namespace std::chrono;
  auto now = system_clock::now();
  std::time_t t = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

// Strings are quoted (JSON style) so values with spaces stay unambiguous; numbers and booleans are bare.
std::string text_line(std::string_view ts, LogLevel level, std::string_view message, LogFields fields) {
  std::string line = str_cat(ts, ' ', log_level_name(level));
  line.append(6 - log_level_name(level).size(), ' ');
  line += message;
  for (const auto& [key, value] : fields) line += str_cat(' ', key, '=', value.dump());
  return line;
}

std::string json_line(std::string_view ts, LogLevel level, std::string_view message, LogFields fields) {
  nlohmann::ordered_json j;
  j["ts"] = ts;
  j["level"] = log_level_name(level);
  j["msg"] = message;
  for (const auto& [key, value] : fields) j[std::string(key)] = value;
  return j.dump();
}

}  // namespace

LogLevel parse_log_level(std::string_view name) {
  for (std::size_t i = 0; i < kLevelNames.size(); ++i) {
    if (kLevelNames[i] == name) return static_cast<LogLevel>(i);
  }
  if (name == "warning") return LogLevel::warn;
  throw UsageError(str_cat("--log-level: unknown level '", name, "' (use trace, debug, info, warn, error or off)"));
}

LogFormat parse_log_format(std::string_view name) {
  if (name == "text") return LogFormat::text;
  if (name == "json") return LogFormat::json;
  throw UsageError(str_cat("--log-format: unknown format '", name, "' (use text or json)"));
}

std::string_view log_level_name(LogLevel level) { return kLevelNames.at(static_cast<std::size_t>(level)); }

void set_log_level(LogLevel level) { g_level = level; }
LogLevel log_level() { return g_level; }
void set_log_format(LogFormat format) { g_format = format; }
void set_log_stream(std::ostream* out) { g_stream = out; }

bool log_enabled(LogLevel level) { return level != LogLevel::off && level >= g_level.load(); }

void log(LogLevel level, std::string_view message, LogFields fields) {
  if (!log_enabled(level)) return;
  std::string ts = utc_timestamp();
  std::string line = g_format == LogFormat::json ? json_line(ts, level, message, fields)
                                                 : text_line(ts, level, message, fields);
  std::lock_guard lock(g_mutex);
  std::ostream* out = g_stream.load();
  if (out == nullptr) out = &std::cerr;
  *out << line << '\n';
  out->flush();
}

}  // namespace patchlm
