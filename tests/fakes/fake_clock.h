#pragma once

#include <mutex>

#include "common/clock.h"

namespace umbra::testing {

// Real time plus an offset the test moves forward: observation windows pass instantly.
class FakeClock final : public Clock {
 public:
  SteadyTime now() const override {
    const std::lock_guard<std::mutex> lock(mutex_);
    return std::chrono::steady_clock::now() + offset_;
  }
  SystemTime wallNow() const override {
    const std::lock_guard<std::mutex> lock(mutex_);
    return std::chrono::system_clock::now() +
           std::chrono::duration_cast<std::chrono::system_clock::duration>(offset_);
  }
  // Back to real time.
  void reset() {
    const std::lock_guard<std::mutex> lock(mutex_);
    offset_ = Duration::zero();
  }
  void advance(Duration d) {
    const std::lock_guard<std::mutex> lock(mutex_);
    offset_ += d;
  }

 private:
  mutable std::mutex mutex_;
  Duration offset_{};
};

}  // namespace umbra::testing
