#include "common/backoff.h"

#include <algorithm>
#include <cmath>

namespace umbra {

std::chrono::nanoseconds ExponentialBackoff::delay(uint32_t failures) const {
  // 2^failures overflows quickly; compare in double and clamp.
  const double scaled = static_cast<double>(base.count()) * std::pow(2.0, failures);
  if (scaled >= static_cast<double>(cap.count())) {
    return cap;
  }
  return std::chrono::nanoseconds(static_cast<int64_t>(scaled));
}

JitteredBackoff::JitteredBackoff(std::chrono::milliseconds initial, std::chrono::milliseconds max,
                                 uint64_t seed)
    : initial_(initial), max_(max), current_(initial), rng_(seed) {}

std::chrono::milliseconds JitteredBackoff::next() {
  std::uniform_real_distribution<double> jitter(0.5, 1.5);
  const auto out = std::chrono::milliseconds(
      static_cast<int64_t>(static_cast<double>(current_.count()) * jitter(rng_)));
  current_ = std::min(max_, current_ * 2);
  return std::min(out, max_);
}

TokenBucket::TokenBucket(double qps, int burst)
    : qps_(qps), burst_(static_cast<double>(burst)), tokens_(static_cast<double>(burst)) {}

std::chrono::nanoseconds TokenBucket::reserve(std::chrono::steady_clock::time_point now) {
  if (started_) {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + std::max(0.0, elapsed) * qps_);
  }
  started_ = true;
  last_ = now;
  tokens_ -= 1.0;
  if (tokens_ >= 0.0) {
    return std::chrono::nanoseconds::zero();
  }
  return std::chrono::nanoseconds(static_cast<int64_t>(-tokens_ / qps_ * 1e9));
}

}  // namespace umbra
