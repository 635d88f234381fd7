#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "common/scheduler.h"

namespace umbra::testing {

// A Scheduler whose time moves only when the test says so; advance() fires due timers in order
// (Envoy's MockTimer: "fire timers directly", no sleeps).
class ManualScheduler final : public Scheduler {
 public:
  SteadyTime now() const override {
    const std::lock_guard<std::mutex> lock(mutex_);
    return now_;
  }
  void schedule(Duration delay, std::function<void()> fn) override {
    const std::lock_guard<std::mutex> lock(mutex_);
    timers_.emplace(now_ + delay, std::move(fn));
  }
  // Moves time forward by `d`, firing every timer that falls due, earliest first.
  void advance(Duration d) {
    SteadyTime target;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      target = now_ + d;
    }
    while (true) {
      std::function<void()> fn;
      {
        const std::lock_guard<std::mutex> lock(mutex_);
        auto it = timers_.begin();
        if (it == timers_.end() || it->first > target) {
          now_ = target;
          return;
        }
        now_ = it->first;
        fn = std::move(it->second);
        timers_.erase(it);
      }
      fn();
    }
  }
  size_t pending() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return timers_.size();
  }

 private:
  mutable std::mutex mutex_;
  SteadyTime now_{std::chrono::hours(1)};
  std::multimap<SteadyTime, std::function<void()>> timers_;
};

}  // namespace umbra::testing
