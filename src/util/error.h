#pragma once
// Errors that reach the user. The CLI prints them as one line, `patchlm: error: <what>`, with no stack trace:
//   Error      — something is wrong with an input (file, field, value) or the environment; exit code 1.
//   UsageError — the command line itself is wrong; exit code 2.
// Messages name the offending file / field / value so the user can act without reading code.
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace patchlm {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class UsageError : public Error {
 public:
  using Error::Error;
};

// Concatenate anything streamable into one string: str_cat("tensor '", name, "' has ", n, " dims").
template <typename... Args>
std::string str_cat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

// Quote a value for an error message: 'value'.
inline std::string in_quotes(const std::string& s) { return "'" + s + "'"; }

}  // namespace patchlm
