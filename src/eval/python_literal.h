#pragma once
// Python literals (what `repr` of lists, dicts, strings, numbers, True/False/None writes) → JSON values. Some public
// data sets (RACE in lm-evaluation-harness) store structured fields as such strings.
#include <string>

#include <nlohmann/json.hpp>

namespace patchlm {

// Throws Error naming `source` and the byte offset on anything else.
nlohmann::json parse_python_literal(const std::string& text, const std::string& source);

}  // namespace patchlm
