#include "util/json_io.h"

#include <chrono>
#include <ctime>
#include <fstream>
#include <sstream>

#include "util/atomic_file.h"
#include "util/error.h"
#include "util/version.h"

namespace patchlm {
namespace fs = std::filesystem;

void write_json_file(const fs::path& path, const nlohmann::ordered_json& value) {
  write_file_atomic(path, value.dump(2) + "\n");
}

nlohmann::json parse_json_text(const std::string& text, const std::string& source_name) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // Translate the byte offset into line:column, which is what a person can find in an editor.
    std::size_t offset = std::min<std::size_t>(e.byte == 0 ? 0 : e.byte - 1, text.size());
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < offset; ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    std::string what = e.what();
    auto pos = what.find("syntax error");
    throw Error(str_cat(source_name, ": line ", line, ", column ", column, ": invalid JSON (",
                        pos == std::string::npos ? what : what.substr(pos), ")"));
  } catch (const nlohmann::json::exception& e) {  // e.g. a number too large for any numeric type
    throw Error(str_cat(source_name, ": invalid JSON (", e.what(), ")"));
  }
}

void require_regular_file(const fs::path& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) throw Error(str_cat("cannot read ", in_quotes(path.string()), ": no such file"));
  if (!fs::is_regular_file(st)) throw Error(str_cat(in_quotes(path.string()), " is not a regular file"));
}

nlohmann::json read_json_file(const fs::path& path) {
  require_regular_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(str_cat("cannot read ", in_quotes(path.string()), ": no such file or not readable"));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(str_cat("cannot read ", in_quotes(path.string())));
  return parse_json_text(ss.str(), path.string());
}

void for_each_jsonl(const fs::path& path,
                    const std::function<void(const nlohmann::json& value, const std::string& where)>& record) {
  require_regular_file(path);
  std::ifstream in(path);
  if (!in) throw Error(str_cat("cannot read ", in_quotes(path.string())));
  std::string line;
  std::size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = str_cat(path.string(), " line ", number);
    record(parse_json_text(line, where), where);
  }
}

nlohmann::ordered_json run_metadata(int argc, const char* const* argv) {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  nlohmann::ordered_json meta;
  meta["tool"] = "patchlm";
  meta["version"] = version();
  meta["created_utc"] = when;
  nlohmann::ordered_json args = nlohmann::ordered_json::array();
  for (int i = 0; i < argc; ++i) args.push_back(argv[i]);
  meta["argv"] = args;
  return meta;
}

}  // namespace patchlm
