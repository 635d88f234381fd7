#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace umbra {

// Exponential backoff: base * 2^failures, capped. Pure arithmetic, no clock.
// client-go's per-item default is 5 ms -> 1000 s.
struct ExponentialBackoff {
  std::chrono::nanoseconds base = std::chrono::milliseconds(5);
  std::chrono::nanoseconds cap = std::chrono::seconds(1000);

  std::chrono::nanoseconds delay(uint32_t failures) const;
};

// Watch-restart backoff as kube-rs' DefaultBackoff: 0.8 s -> 30 s, x2 with +-50% jitter
// (the caller resets it after 120 s of healthy streaming).
class JitteredBackoff {
 public:
  JitteredBackoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, uint64_t seed);
  std::chrono::milliseconds next();
  void reset() { current_ = initial_; }

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  std::chrono::milliseconds current_;
  std::mt19937_64 rng_;
};

// Token bucket (client-go's BucketRateLimiter: 10 qps, burst 100 for the work queue).
// Time is passed in so that tests need no sleeps.
class TokenBucket {
 public:
  TokenBucket(double qps, int burst);
  // Reserves one token at `now`; returns how long the caller must wait before using it.
  std::chrono::nanoseconds reserve(std::chrono::steady_clock::time_point now);

 private:
  double qps_;
  double burst_;
  double tokens_;
  std::chrono::steady_clock::time_point last_{};
  bool started_ = false;
};

}  // namespace umbra
