#pragma once

namespace patchlm {
// The release version, "MAJOR.MINOR.PATCH" (from CMake's project()).
const char* version();
}  // namespace patchlm
