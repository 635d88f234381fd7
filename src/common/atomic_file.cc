#include "common/atomic_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace umbra {

Status writeFileAtomically(const std::string& path, const std::string& content,
                           const std::string& what) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const auto failed = [&](const std::string& reason) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    return Error::make(ErrorKind::Invalid, path + ": cannot write " + what + ": " + reason);
  };
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    out.flush();
    if (!out)
      return failed(std::strerror(errno ? errno : EIO));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec)
    return failed(ec.message());
  return okStatus();
}

}  // namespace umbra
