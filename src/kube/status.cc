#include "kube/status.h"

#include <nlohmann/json.hpp>

namespace umbra::kube {
namespace {

ErrorKind kindFor(int code, const std::string& reason) {
  // The reason is authoritative when present (a 504 may say Timeout, a 500 may say Expired).
  if (reason == "NotFound") return ErrorKind::NotFound;
  if (reason == "AlreadyExists") return ErrorKind::AlreadyExists;
  if (reason == "Conflict") return ErrorKind::Conflict;
  if (reason == "Gone" || reason == "Expired") return ErrorKind::Gone;
  if (reason == "Forbidden") return ErrorKind::Forbidden;
  if (reason == "Unauthorized") return ErrorKind::Unauthorized;
  if (reason == "Invalid") return ErrorKind::Invalid;
  if (reason == "TooManyRequests") return ErrorKind::TooManyRequests;
  if (reason == "Timeout" || reason == "ServerTimeout") return ErrorKind::Timeout;
  switch (code) {
    case 400: return ErrorKind::BadRequest;
    case 401: return ErrorKind::Unauthorized;
    case 403: return ErrorKind::Forbidden;
    case 404: return ErrorKind::NotFound;
    case 409: return ErrorKind::Conflict;
    case 410: return ErrorKind::Gone;
    case 422: return ErrorKind::Invalid;
    case 429: return ErrorKind::TooManyRequests;
    case 504: return ErrorKind::Timeout;
    default: break;
  }
  if (code >= 500) return ErrorKind::ServerError;
  return ErrorKind::BadRequest;
}

std::string firstLine(std::string s) {
  const auto nl = s.find('\n');
  if (nl != std::string::npos) {
    s.resize(nl);
  }
  if (s.size() > 300) {
    s.resize(300);
    s += "...";
  }
  return s;
}

Error fromStatus(int code, const nlohmann::json& status, const std::string& what) {
  const std::string reason = status.value("reason", "");
  if (code == 0) {
    code = status.value("code", 0);
  }
  Error err;
  err.kind = kindFor(code, reason);
  err.httpCode = code;
  err.message = what + ": " + std::to_string(code) + " " + firstLine(status.value("message", reason));
  if (status.contains("details") && status["details"].is_object()) {
    const auto& details = status["details"];
    if (details.contains("causes") && details["causes"].is_array()) {
      for (const auto& c : details["causes"]) {
        err.causes.push_back(
            {c.value("field", ""), c.value("reason", ""), c.value("message", "")});
      }
    }
    if (details.contains("retryAfterSeconds") && details["retryAfterSeconds"].is_number()) {
      err.retryAfter = std::chrono::seconds(details["retryAfterSeconds"].get<int64_t>());
    }
  }
  return err;
}

}  // namespace

Error errorFromResponse(int httpCode, const std::string& body, const std::string& what,
                        const std::optional<std::string>& retryAfter) {
  Error err;
  const auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (!parsed.is_discarded() && parsed.is_object() && parsed.value("kind", "") == "Status") {
    err = fromStatus(httpCode, parsed, what);
  } else {
    err.kind = kindFor(httpCode, "");
    err.httpCode = httpCode;
    err.message = what + ": " + std::to_string(httpCode) +
                  (body.empty() ? std::string() : " " + firstLine(body));
  }
  if (retryAfter) {
    try {
      err.retryAfter = std::chrono::seconds(std::stoll(*retryAfter));
    } catch (const std::exception&) {
      // An HTTP-date Retry-After is legal but the API server never sends one; ignore it.
    }
  }
  return err;
}

Error errorFromStatusJson(const std::string& statusJson, const std::string& what) {
  const auto parsed = nlohmann::json::parse(statusJson, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return Error::make(ErrorKind::ServerError, what + ": malformed watch error event");
  }
  return fromStatus(0, parsed, what);
}

}  // namespace umbra::kube
