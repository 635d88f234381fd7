#include "runtime/work_queue.h"

#include <algorithm>

namespace umbra::runtime {

struct WorkQueue::State {
  mutable std::mutex mutex;
  std::condition_variable cv;
  std::deque<std::string> queue;   // Normal keys, in order
  std::deque<std::string> urgent;  // High keys, handed out first
  std::set<std::string> dirty;
  std::set<std::string> dirtyUrgent;  // dirty keys added at High (queued or to re-queue at done())
  std::set<std::string> processing;
  std::set<std::string> processingUrgent;  // in flight, handed out from `urgent`
  int normalSlotsWhileUrgent = -1;
  std::unordered_map<std::string, SteadyTime> addedAt;
  std::unordered_map<std::string, SteadyTime> startedAt;
  std::unordered_map<std::string, SteadyTime> waiting;  // key -> ready time of its pending timer
  std::unordered_map<std::string, uint32_t> failures;
  TokenBucket bucket{10, 100};
  bool shuttingDown = false;
  QueueMetrics* metrics = nullptr;

  size_t depth() const { return queue.size() + urgent.size(); }

  // Whether get() may hand out a key now: any High key; a Normal key unless High work is under
  // way and the Normal slots are taken.
  bool canHandOut() const {
    if (!urgent.empty())
      return true;
    if (queue.empty())
      return false;
    if (normalSlotsWhileUrgent < 0 || processingUrgent.empty())
      return true;
    const size_t normalInFlight = processing.size() - processingUrgent.size();
    return normalInFlight < static_cast<size_t>(normalSlotsWhileUrgent);
  }

  void enqueueLocked(const std::string& key, SteadyTime now) {
    (dirtyUrgent.count(key) != 0 ? urgent : queue).push_back(key);
    addedAt.emplace(key, now);
    if (metrics)
      metrics->depth(depth());
  }

  void addLocked(const std::string& key, SteadyTime now, Priority priority) {
    if (shuttingDown) {
      return;
    }
    const bool high = priority == Priority::High;
    if (dirty.count(key) != 0) {
      if (high && dirtyUrgent.insert(key).second && processing.count(key) == 0) {
        // Waiting at Normal: move it up, keeping the time it was first added.
        queue.erase(std::find(queue.begin(), queue.end(), key));
        urgent.push_back(key);
      }
      return;
    }
    dirty.insert(key);
    if (high)
      dirtyUrgent.insert(key);
    if (metrics)
      metrics->added();
    if (processing.count(key) != 0) {
      return;  // re-queued by done()
    }
    enqueueLocked(key, now);
    cv.notify_one();
  }
};

WorkQueue::WorkQueue(Scheduler& scheduler, WorkQueueOptions options)
    : state_(std::make_shared<State>()), scheduler_(scheduler), options_(options) {
  state_->bucket = TokenBucket(options_.qps, options_.burst);
  state_->normalSlotsWhileUrgent = options_.normalSlotsWhileUrgent;
}

WorkQueue::~WorkQueue() {
  shutDown();
}

void WorkQueue::add(const std::string& key, Priority priority) {
  const std::lock_guard<std::mutex> lock(state_->mutex);
  state_->addLocked(key, scheduler_.now(), priority);
}

void WorkQueue::addAfter(const std::string& key, Duration delay) {
  if (delay <= Duration::zero()) {
    add(key);
    return;
  }
  const SteadyTime readyAt = scheduler_.now() + delay;
  {
    const std::lock_guard<std::mutex> lock(state_->mutex);
    if (state_->shuttingDown) {
      return;
    }
    const auto it = state_->waiting.find(key);
    if (it != state_->waiting.end() && it->second <= readyAt) {
      return;  // an earlier wake-up is already pending
    }
    state_->waiting[key] = readyAt;
  }
  std::weak_ptr<State> weak = state_;
  Scheduler* scheduler = &scheduler_;
  scheduler_.schedule(delay, [weak, key, readyAt, scheduler] {
    auto state = weak.lock();
    if (!state) {
      return;
    }
    const std::lock_guard<std::mutex> lock(state->mutex);
    const auto it = state->waiting.find(key);
    if (it == state->waiting.end() || it->second != readyAt) {
      return;  // superseded by an earlier timer, which already fired
    }
    state->waiting.erase(it);
    state->addLocked(key, scheduler->now(), Priority::Normal);
  });
}

void WorkQueue::addRateLimited(const std::string& key) {
  Duration delay;
  {
    const std::lock_guard<std::mutex> lock(state_->mutex);
    const uint32_t n = state_->failures[key]++;
    const auto perKey = options_.backoff.delay(n);
    const auto overall = state_->bucket.reserve(scheduler_.now());
    delay = std::chrono::duration_cast<Duration>(std::max(perKey, overall));
    if (state_->metrics)
      state_->metrics->retried();
  }
  addAfter(key, delay);
}

void WorkQueue::forget(const std::string& key) {
  const std::lock_guard<std::mutex> lock(state_->mutex);
  state_->failures.erase(key);
}

size_t WorkQueue::numRequeues(const std::string& key) const {
  const std::lock_guard<std::mutex> lock(state_->mutex);
  const auto it = state_->failures.find(key);
  return it == state_->failures.end() ? 0 : it->second;
}

std::optional<std::string> WorkQueue::get() {
  std::unique_lock<std::mutex> lock(state_->mutex);
  state_->cv.wait(lock, [this] { return state_->canHandOut() || state_->shuttingDown; });
  if (state_->shuttingDown) {
    return std::nullopt;
  }
  const bool high = !state_->urgent.empty();
  auto& from = high ? state_->urgent : state_->queue;
  std::string key = std::move(from.front());
  from.pop_front();
  state_->processing.insert(key);
  if (high)
    state_->processingUrgent.insert(key);
  state_->dirty.erase(key);
  state_->dirtyUrgent.erase(key);
  const SteadyTime now = scheduler_.now();
  if (state_->metrics) {
    state_->metrics->depth(state_->depth());
    const auto it = state_->addedAt.find(key);
    if (it != state_->addedAt.end()) {
      state_->metrics->queueLatency(std::chrono::duration<double>(now - it->second).count());
    }
  }
  state_->addedAt.erase(key);
  state_->startedAt[key] = now;
  return key;
}

void WorkQueue::done(const std::string& key) {
  const std::lock_guard<std::mutex> lock(state_->mutex);
  state_->processing.erase(key);
  state_->processingUrgent.erase(key);
  const auto it = state_->startedAt.find(key);
  if (it != state_->startedAt.end()) {
    if (state_->metrics) {
      state_->metrics->workDuration(
          std::chrono::duration<double>(scheduler_.now() - it->second).count());
    }
    state_->startedAt.erase(it);
  }
  if (state_->dirty.count(key) != 0 && !state_->shuttingDown) {
    state_->enqueueLocked(key, scheduler_.now());
  }
  state_->cv.notify_all();
}

void WorkQueue::shutDown() {
  const std::lock_guard<std::mutex> lock(state_->mutex);
  state_->shuttingDown = true;
  state_->cv.notify_all();
}

void WorkQueue::shutDownWithDrain() {
  std::unique_lock<std::mutex> lock(state_->mutex);
  state_->shuttingDown = true;
  state_->queue.clear();  // nothing new is started; what is in flight finishes
  state_->urgent.clear();
  state_->dirty.clear();
  state_->dirtyUrgent.clear();
  state_->cv.notify_all();
  state_->cv.wait(lock, [this] { return state_->processing.empty(); });
}

bool WorkQueue::shuttingDown() const {
  const std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->shuttingDown;
}

size_t WorkQueue::len() const {
  const std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->depth();
}

void WorkQueue::setMetrics(QueueMetrics* metrics) {
  const std::lock_guard<std::mutex> lock(state_->mutex);
  state_->metrics = metrics;
}

}  // namespace umbra::runtime
