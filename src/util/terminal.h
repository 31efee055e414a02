#pragma once
// What the process is attached to. Progress bars and colours depend on it.

namespace patchlm {

bool stdout_is_terminal();
bool stderr_is_terminal();

}  // namespace patchlm
