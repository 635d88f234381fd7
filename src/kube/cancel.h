#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace umbra {

// A cancellation signal shared between the owner of a long operation (a watch stream, a worker
// loop) and the code that stops it. Thread-safe. Callbacks run once, on the cancelling thread, or
// at once on registration if already cancelled.
class Cancellation {
 public:
  void cancel() {
    std::vector<std::function<void()>> callbacks;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (cancelled_.exchange(true)) {
        return;
      }
      callbacks.swap(callbacks_);
    }
    cv_.notify_all();
    for (auto& cb : callbacks) {
      cb();
    }
  }
  bool cancelled() const { return cancelled_.load(); }
  // Sleeps up to `d`; returns true at once when cancelled (a cancellable sleep, no polling).
  template <typename Rep, typename Period>
  bool waitFor(std::chrono::duration<Rep, Period> d) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, d, [this] { return cancelled_.load(); });
  }
  // Returns an id for unregister().
  size_t onCancel(std::function<void()> cb) {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (!cancelled_) {
        callbacks_.push_back(std::move(cb));
        return callbacks_.size() - 1;
      }
    }
    cb();
    return SIZE_MAX;
  }
  // Drops a callback whose captured state is about to go away.
  void unregister(size_t id) {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (id < callbacks_.size()) {
      callbacks_[id] = [] {};
    }
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::atomic<bool> cancelled_{false};
  std::vector<std::function<void()>> callbacks_;
};

using CancellationPtr = std::shared_ptr<Cancellation>;

}  // namespace umbra
