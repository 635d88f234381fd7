#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace umbra {

// What went wrong, in the terms a caller decides on. Kubernetes API `Status` reasons map onto the
// first group; the rest describe the environment or our own input.
enum class ErrorKind {
  NotFound,
  AlreadyExists,
  Conflict,
  Gone,  // 410: resourceVersion too old; a watcher relists.
  Forbidden,
  Unauthorized,
  Invalid,  // 422 with field causes.
  BadRequest,
  TooManyRequests,  // 429: honour retryAfter.
  Timeout,          // 504 / client-side deadline.
  ServerError,      // 5xx other than the above.
  Network,          // connection refused, DNS, TLS handshake.
  Unavailable,      // data or a service not there yet (no telemetry sample): retry later.
  Config,           // bad kubeconfig, flags, YAML: the message names file and field.
  Cancelled,        // shutdown in progress.
  Terminal,         // not retried; goes to status and Events (controller-runtime TerminalError).
  Internal,         // a bug: an invariant did not hold.
};

const char* toString(ErrorKind kind);

// One field-level cause from a 422 Status (`details.causes`).
struct ErrorCause {
  std::string field;
  std::string reason;
  std::string message;
};

// An error as a value. `message` is one line naming what failed (file, field, URL).
struct Error {
  ErrorKind kind = ErrorKind::Internal;
  std::string message;
  int httpCode = 0;
  std::optional<std::chrono::seconds> retryAfter;
  std::vector<ErrorCause> causes;

  static Error make(ErrorKind kind, std::string message) {
    Error e;
    e.kind = kind;
    e.message = std::move(message);
    return e;
  }
  static Error config(std::string message) { return make(ErrorKind::Config, std::move(message)); }
  static Error bug(std::string message) { return make(ErrorKind::Internal, std::move(message)); }

  bool is(ErrorKind k) const { return kind == k; }
  // True for errors worth retrying with backoff (the environment may recover).
  bool retryable() const;
  // The same error with what was being done in front: wrap("while patching VM ns/web") gives
  // "while patching VM ns/web: <message>". Kind, HTTP code, Retry-After and causes are kept.
  Error wrap(const std::string& context) const;
  // "Kind: message", for logs.
  std::string describe() const;
};

}  // namespace umbra
