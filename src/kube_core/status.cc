#include "kube_core/status.h"

#include <nlohmann/json.hpp>

#include <map>

namespace umbra::kube {
namespace {

ErrorKind kindFor(int code, const std::string& reason) {
  // The reason is authoritative when present (a 504 may say Timeout, a 500 may say Expired).
  static const std::map<std::string, ErrorKind> byReason = {
      {"NotFound", ErrorKind::NotFound},
      {"AlreadyExists", ErrorKind::AlreadyExists},
      {"Conflict", ErrorKind::Conflict},
      {"Gone", ErrorKind::Gone},
      {"Expired", ErrorKind::Gone},
      {"Forbidden", ErrorKind::Forbidden},
      {"Unauthorized", ErrorKind::Unauthorized},
      {"Invalid", ErrorKind::Invalid},
      {"TooManyRequests", ErrorKind::TooManyRequests},
      {"Timeout", ErrorKind::Timeout},
      {"ServerTimeout", ErrorKind::Timeout},
  };
  static const std::map<int, ErrorKind> byCode = {
      {400, ErrorKind::BadRequest}, {401, ErrorKind::Unauthorized},    {403, ErrorKind::Forbidden},
      {404, ErrorKind::NotFound},   {409, ErrorKind::Conflict},        {410, ErrorKind::Gone},
      {422, ErrorKind::Invalid},    {429, ErrorKind::TooManyRequests}, {504, ErrorKind::Timeout},
  };
  if (const auto it = byReason.find(reason); it != byReason.end()) {
    return it->second;
  }
  if (const auto it = byCode.find(code); it != byCode.end()) {
    return it->second;
  }
  return code >= 500 ? ErrorKind::ServerError : ErrorKind::BadRequest;
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
  err.message =
      what + ": " + std::to_string(code) + " " + firstLine(status.value("message", reason));
  if (status.contains("details") && status["details"].is_object()) {
    const auto& details = status["details"];
    if (details.contains("causes") && details["causes"].is_array()) {
      for (const auto& c : details["causes"]) {
        err.causes.push_back({c.value("field", ""), c.value("reason", ""), c.value("message", "")});
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
