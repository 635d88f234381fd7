#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "runtime/work_queue.h"

namespace umbra::runtime {

// What a reconcile asks for next (kube-rs Action).
class Action {
 public:
  static Action requeueAfter(Duration d) { return Action(d); }
  static Action awaitChange() { return Action(Duration::zero()); }
  // Queued again at once, behind the work already waiting.
  static Action requeueSoon() { return Action(Duration(1)); }
  bool requeues() const { return after_ > Duration::zero(); }
  Duration after() const { return after_; }

 private:
  explicit Action(Duration d) : after_(d) {}
  Duration after_;
};

using ReconcileFn = std::function<Result<Action>(const std::string& key)>;

// N workers pull keys from the queue and reconcile them: watch -> store -> queue -> worker ->
// reconcile -> Action -> queue. One error policy: Terminal errors are logged and not retried
// (the reconciler has put them in status); errors with Retry-After wait that long; others back
// off per key.
class Controller {
 public:
  Controller(std::string name, WorkQueue& queue, ReconcileFn reconcile, int workers);
  ~Controller();

  void start();
  // Drains: in-flight reconciles finish, nothing new starts; joins the workers.
  void stop();
  uint64_t reconciles() const { return reconciles_.load(); }
  uint64_t errors() const { return errors_.load(); }

 private:
  void work();
  void handle(const std::string& key, const Result<Action>& result);

  std::string name_;
  WorkQueue& queue_;
  ReconcileFn reconcile_;
  int workers_;
  std::vector<std::thread> threads_;
  std::atomic<uint64_t> reconciles_{0};
  std::atomic<uint64_t> errors_{0};
};

}  // namespace umbra::runtime
