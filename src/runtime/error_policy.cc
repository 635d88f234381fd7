#include "runtime/error_policy.h"

namespace umbra::runtime {

Retry errorPolicy(const Error& error) {
  if (error.is(ErrorKind::Terminal)) {
    return {Retry::How::Never, {}};
  }
  if (error.retryAfter) {
    return {Retry::How::After, std::chrono::duration_cast<Duration>(*error.retryAfter)};
  }
  if (error.retryable()) {
    return {Retry::How::Backoff, {}};
  }
  return {Retry::How::Never, {}};
}

}  // namespace umbra::runtime
