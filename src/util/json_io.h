#pragma once
// JSON files in and out: results, configs, run metadata. Writes are atomic; read errors name the file and the
// line:column of the problem.
#include <filesystem>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace patchlm {

// Error naming the path unless it is an existing regular file (not a directory, FIFO or device: reading those
// fails late or blocks forever).
void require_regular_file(const std::filesystem::path& path);

// Pretty-printed (indent 2), newline-terminated, written atomically. Doubles are printed with enough digits to
// read back bit-identically.
void write_json_file(const std::filesystem::path& path, const nlohmann::ordered_json& value);

// Throws Error("<path>: line L, column C: <reason>") on malformed JSON, Error naming the path if unreadable.
nlohmann::json read_json_file(const std::filesystem::path& path);
nlohmann::json parse_json_text(const std::string& text, const std::string& source_name);

// Calls `record(value, where)` for every non-blank line of a JSON Lines file; `where` is "<path> line <N>".
// Throws Error naming the file (and the line) when it is unreadable or a line is not valid JSON.
void for_each_jsonl(const std::filesystem::path& path,
                    const std::function<void(const nlohmann::json& value, const std::string& where)>& record);

// What every result file carries so a number can be traced back: tool, version, UTC time, command line.
nlohmann::ordered_json run_metadata(int argc, const char* const* argv);

}  // namespace patchlm
