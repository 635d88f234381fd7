#pragma once

#include <string>

#include "common/result.h"

namespace umbra {

// Writes `content` to `path` through a temporary file beside it and a rename, so that a crash
// leaves either the old file or the new one, never half of it. The error names the path and
// `what` ("path: cannot write the model: No space left on device"); the temporary file is removed.
Status writeFileAtomically(const std::string& path, const std::string& content,
                           const std::string& what);

}  // namespace umbra
