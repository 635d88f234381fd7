#pragma once

#include <functional>

#include "common/clock.h"

namespace umbra {

// Timers as a seam (Envoy Dispatcher::createTimer / MockTimer). Production runs callbacks on the
// Asio event loop (runtime/event_loop.h); tests fire them by advancing a manual scheduler.
class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual SteadyTime now() const = 0;
  // Runs `fn` once, no earlier than `delay` from now, on the scheduler's thread. A callback that
  // may outlive its owner must capture a weak reference (the work queue does).
  virtual void schedule(Duration delay, std::function<void()> fn) = 0;
};

}  // namespace umbra
