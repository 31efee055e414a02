#pragma once
// Structured logging to stderr: a message plus key=value fields, filtered by level (--log-level) and written
// as text (default) or one JSON object per line (--log-format json, for machines).
//
//   log_info("loaded checkpoint", {{"path", dir}, {"tensors", 291}});
//   2026-11-25T21:50:01.123Z info  loaded checkpoint path="/m" tensors=291
#include <initializer_list>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

namespace patchlm {

enum class LogLevel { trace = 0, debug, info, warn, error, off };
enum class LogFormat { text, json };

using LogFields = std::initializer_list<std::pair<std::string_view, nlohmann::json>>;

// Throws UsageError naming the value when it is not one of trace/debug/info/warn/error/off.
LogLevel parse_log_level(std::string_view name);
LogFormat parse_log_format(std::string_view name);
std::string_view log_level_name(LogLevel level);

void set_log_level(LogLevel level);
LogLevel log_level();
void set_log_format(LogFormat format);
// Where log lines go; stderr by default. The stream must outlive its use.
void set_log_stream(std::ostream* out);

bool log_enabled(LogLevel level);
void log(LogLevel level, std::string_view message, LogFields fields = {});

inline void log_debug(std::string_view m, LogFields f = {}) { log(LogLevel::debug, m, f); }
inline void log_info(std::string_view m, LogFields f = {}) { log(LogLevel::info, m, f); }
inline void log_warn(std::string_view m, LogFields f = {}) { log(LogLevel::warn, m, f); }
inline void log_error(std::string_view m, LogFields f = {}) { log(LogLevel::error, m, f); }

}  // namespace patchlm
