#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

#include "common/backoff.h"
#include "common/scheduler.h"
#include "runtime/action.h"

namespace umbra::runtime {

// Receives the queue's measurements; client-go's workqueue metric names are given per method.
class QueueMetrics {
 public:
  virtual ~QueueMetrics() = default;
  virtual void depth(size_t n) = 0;               // workqueue_depth
  virtual void added() = 0;                       // workqueue_adds_total
  virtual void queueLatency(double seconds) = 0;  // workqueue_queue_duration_seconds
  virtual void workDuration(double seconds) = 0;  // workqueue_work_duration_seconds
  virtual void retried() = 0;                     // workqueue_retries_total
};

struct WorkQueueOptions {
  ExponentialBackoff backoff;  // per key: 5 ms -> 1000 s
  double qps = 10;             // overall cap on rate-limited re-adds (client-go: 10 qps, burst 100)
  int burst = 100;
  // While High keys wait or are in flight, at most this many Normal keys are processed at once
  // (< 0: no limit). A burst of new work then keeps the workers, and the API server, for itself;
  // routine follow-ups still advance, one slot at a time, so nothing starves.
  int normalSlotsWhileUrgent = -1;
};

// A rate-limited, delaying work queue keyed by "namespace/name" (client-go workqueue semantics):
//  - a key waiting in the queue is not added twice (deduplication);
//  - a key is never handed to two workers: a key added while in flight is re-queued at done();
//  - addAfter keeps the earlier time when a key is scheduled twice (kube-rs scheduler);
//  - addRateLimited delays by max(per-key exponential backoff, the global token bucket).
//  - add(key, Priority::High) is handed out before every Normal key (controller-runtime's priority
//    queue): new work that someone waits for is not stuck behind routine re-checks. A key queued
//    at Normal is moved up when added again at High. With normalSlotsWhileUrgent, Normal keys
//    also yield workers to High ones that are still in flight.
// Thread-safe. Owned by its controller; timers hold only a weak reference.
class WorkQueue {
 public:
  using Priority = runtime::Priority;

  WorkQueue(Scheduler& scheduler, WorkQueueOptions options = {});
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void add(const std::string& key, Priority priority = Priority::Normal);
  void addAfter(const std::string& key, Duration delay);
  void addRateLimited(const std::string& key);
  // Clears the key's failure count (after a successful reconcile).
  void forget(const std::string& key);
  size_t numRequeues(const std::string& key) const;

  // Blocks until a key is ready or the queue shuts down (nullopt). The caller must call done().
  std::optional<std::string> get();
  void done(const std::string& key);

  // No more keys are handed out; get() returns nullopt to every waiter.
  void shutDown();
  // As shutDown(), but first waits until every key handed out is done().
  void shutDownWithDrain();
  bool shuttingDown() const;
  size_t len() const;
  void setMetrics(QueueMetrics* metrics);  // non-owning; outlives the queue

  struct State;

 private:
  std::shared_ptr<State> state_;
  Scheduler& scheduler_;
  WorkQueueOptions options_;
};

}  // namespace umbra::runtime
