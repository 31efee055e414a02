#pragma once
// The shortest decimal that reads back as exactly v: for metadata, where str_cat's 6 significant digits would
// lose what the file's own tensors say (a mask's sparsity recomputed from its masks must equal its metadata).
#include <charconv>
#include <string>

namespace patchlm {

inline std::string exact_decimal(double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

}  // namespace patchlm
