#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "runtime/action.h"
#include "runtime/work_queue.h"

namespace umbra::runtime {

using ReconcileFn = std::function<Result<Action>(const std::string& key)>;

// Receives one measurement per reconcile (controller-runtime's controller_runtime_reconcile_total
// and _time_seconds). `result` is "success" or the error's ErrorKind.
class ReconcileMetrics {
 public:
  virtual ~ReconcileMetrics() = default;
  virtual void reconciled(const std::string& controller, const std::string& result,
                          double seconds) = 0;
};

// N workers pull keys from the queue and reconcile them: watch -> store -> queue -> worker ->
// reconcile -> Action -> queue. Errors go through runtime::errorPolicy (error_policy.h).
// Guarantees: a key is reconciled by one worker at a time (the queue's contract); stop() lets the
// reconciles in flight finish and joins the workers.
class Controller {
 public:
  // `metrics` is non-owning and may be null; it must outlive the controller.
  Controller(std::string name, WorkQueue& queue, ReconcileFn reconcile, int workers,
             ReconcileMetrics* metrics = nullptr);
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
  ReconcileMetrics* metrics_;
  std::vector<std::thread> threads_;
  std::atomic<uint64_t> reconciles_{0};
  std::atomic<uint64_t> errors_{0};
};

}  // namespace umbra::runtime
