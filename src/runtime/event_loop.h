#pragma once

#include <functional>
#include <memory>

#include "common/scheduler.h"

namespace umbra::runtime {

// The process's one Boost.Asio io_context, run on its own thread: timers (Scheduler) and
// SIGTERM/SIGINT. Asio headers stay in event_loop.cc.
class EventLoop final : public Scheduler {
 public:
  EventLoop();
  ~EventLoop() override;  // stops and joins

  SteadyTime now() const override;
  void schedule(Duration delay, std::function<void()> fn) override;
  // Runs `fn` on the loop thread as soon as possible.
  void post(std::function<void()> fn);

  // Calls `onSignal` (on the loop thread) at the first SIGTERM or SIGINT; a second one exits the
  // process at once with status 130, as controller-runtime's signal handler does.
  void handleShutdownSignals(std::function<void(int signal)> onSignal);

  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace umbra::runtime
