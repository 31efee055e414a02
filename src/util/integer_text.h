#pragma once
// Whole-string integer parsing for checked inputs (environment variables, file metadata, id lists): std::stoll's
// syntax (leading blanks, a sign, decimal digits), but every character must be used — "12x", "" and out-of-range
// text give nullopt, so each caller writes only its own error message.
#include <optional>
#include <stdexcept>
#include <string>

namespace patchlm {

inline std::optional<long long> parse_integer(const std::string& text) {
  std::size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (used != text.size()) return std::nullopt;
  return value;
}

}  // namespace patchlm
