#pragma once

#include <condition_variable>
#include <mutex>

namespace umbra::runtime {

// Waits for the first reason to stop (a signal, the loss of the lease); later triggers keep the
// first exit code. Thread-safe.
class ShutdownLatch {
 public:
  void trigger(int code) {
    const std::lock_guard<std::mutex> lock(mutex_);
    code_ = done_ ? code_ : code;
    done_ = true;
    cv_.notify_all();
  }
  int wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [this] { return done_; });
    return code_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  int code_ = 0;
};

}  // namespace umbra::runtime
