#pragma once

#include <string>

#include "common/result.h"

namespace umbra {

// Reads a whole file. The error is a Config error naming the file and the reason
// ("/etc/umbra/token: No such file or directory").
Result<std::string> readFile(const std::string& path);

}  // namespace umbra
