#include "common/error.h"

namespace umbra {

const char* toString(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::NotFound: return "NotFound";
    case ErrorKind::AlreadyExists: return "AlreadyExists";
    case ErrorKind::Conflict: return "Conflict";
    case ErrorKind::Gone: return "Gone";
    case ErrorKind::Forbidden: return "Forbidden";
    case ErrorKind::Unauthorized: return "Unauthorized";
    case ErrorKind::Invalid: return "Invalid";
    case ErrorKind::BadRequest: return "BadRequest";
    case ErrorKind::TooManyRequests: return "TooManyRequests";
    case ErrorKind::Timeout: return "Timeout";
    case ErrorKind::ServerError: return "ServerError";
    case ErrorKind::Network: return "Network";
    case ErrorKind::Unavailable: return "Unavailable";
    case ErrorKind::Config: return "Config";
    case ErrorKind::Cancelled: return "Cancelled";
    case ErrorKind::Terminal: return "Terminal";
    case ErrorKind::Internal: return "Internal";
  }
  return "Unknown";
}

bool Error::retryable() const {
  switch (kind) {
    case ErrorKind::Conflict:
    case ErrorKind::TooManyRequests:
    case ErrorKind::Timeout:
    case ErrorKind::ServerError:
    case ErrorKind::Network:
    case ErrorKind::Unavailable:
    case ErrorKind::Gone: return true;
    default: return false;
  }
}

Error Error::wrap(const std::string& context) const {
  Error e = *this;
  e.message = context + ": " + message;
  return e;
}

std::string Error::describe() const {
  return std::string(toString(kind)) + ": " + message;
}

}  // namespace umbra
