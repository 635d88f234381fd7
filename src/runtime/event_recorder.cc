#include "runtime/event_recorder.h"

#include <cstdio>

#include "common/log.h"
#include "kube_core/time.h"

namespace umbra::runtime {

using kube::Json;

EventRecorder::EventRecorder(kube::KubeClient& client, std::string reportingController,
                             std::string reportingInstance, const Clock& clock)
    : client_(client),
      controller_(std::move(reportingController)),
      instance_(std::move(reportingInstance)),
      clock_(clock) {}

EventRecorder::~EventRecorder() {
  {
    const std::lock_guard<std::mutex> lock(queueMutex_);
    if (!thread_.joinable())
      return;
  }
  flush(ShutdownGrace);
  {
    const std::lock_guard<std::mutex> lock(queueMutex_);
    stopping_ = true;
    if (!queue_.empty())
      log::warn("dropping undelivered events at shutdown",
                {{"count", std::to_string(queue_.size())}});
    queue_.clear();
  }
  queueChanged_.notify_all();
  thread_.join();
}

void EventRecorder::post(const Json& regarding, EventType type, const std::string& reason,
                         const std::string& action, const std::string& note) {
  {
    const std::lock_guard<std::mutex> lock(queueMutex_);
    if (queue_.size() >= MaxQueued) {
      log::warn("event queue full, dropping event",
                {{"object", regarding["metadata"].value("namespace", "") + "/" +
                                regarding["metadata"].value("name", "")},
                 {"reason", reason}});
      return;
    }
    queue_.push_back(Posted{regarding, type, reason, action, note});
    if (!thread_.joinable())
      thread_ = std::thread([this] { deliver(); });
  }
  queueChanged_.notify_all();
}

void EventRecorder::deliver() {
  std::unique_lock<std::mutex> lock(queueMutex_);
  for (;;) {
    queueChanged_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_)
      return;
    Posted e = std::move(queue_.front());
    queue_.pop_front();
    delivering_ = true;
    lock.unlock();
    (void)record(e.regarding, e.type, e.reason, e.action, e.note);  // logs its own failures
    lock.lock();
    delivering_ = false;
    queueChanged_.notify_all();
  }
}

bool EventRecorder::flush(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(queueMutex_);
  return queueChanged_.wait_for(lock, timeout, [&] { return queue_.empty() && !delivering_; });
}

Status EventRecorder::record(const Json& regarding, EventType type, const std::string& reason,
                             const std::string& action, const std::string& note) {
  const Json& meta = regarding.at("metadata");
  const std::string ns = meta.value("namespace", "default");
  const std::string name = meta.value("name", "");
  const std::string typeName = type == EventType::Normal ? "Normal" : "Warning";
  const std::string shortNote = note.size() > 1024 ? note.substr(0, 1021) + "..." : note;
  const std::string key = meta.value("uid", ns + "/" + name) + "|" + typeName + "|" + reason + "|" +
                          action + "|" + shortNote;
  const SteadyTime now = clock_.now();
  const std::string nowText = kube::formatMicroTime(clock_.wallNow());

  std::unique_lock<std::mutex> lock(mutex_);
  auto it = seen_.find(key);
  if (it != seen_.end() && now - it->second.last < SeriesWindow) {
    Seen& s = it->second;
    s.count += 1;
    s.last = now;
    const Json patch = {{"series", {{"count", s.count}, {"lastObservedTime", nowText}}}};
    const std::string eventName = s.eventName;
    const std::string eventNs = s.ns;
    lock.unlock();
    auto r = client_.patch(kube::resources::events(), {eventNs, eventName}, kube::PatchType::Merge,
                           patch);
    if (r.ok() || !r.error().is(ErrorKind::NotFound)) {
      return r.ok() ? okStatus() : Status(r.error());
    }
    lock.lock();  // the Event expired (TTL): start a new one below
    seen_.erase(key);
  }
  char suffix[32];
  std::snprintf(
      suffix, sizeof(suffix), ".%llx%04llx",
      static_cast<unsigned long long>(
          std::chrono::duration_cast<std::chrono::microseconds>(clock_.wallNow().time_since_epoch())
              .count()),
      static_cast<unsigned long long>(sequence_++ & 0xffff));
  const std::string eventName = name + suffix;
  if (seen_.size() >= MaxTracked) {
    // A long-running operator would otherwise remember every event it ever sent.
    for (auto it = seen_.begin(); it != seen_.end();) {
      it = now - it->second.last >= SeriesWindow ? seen_.erase(it) : std::next(it);
    }
  }
  seen_[key] = Seen{eventName, ns, 1, now};
  lock.unlock();

  Json event = {{"apiVersion", "events.k8s.io/v1"},
                {"kind", "Event"},
                {"metadata", {{"name", eventName}, {"namespace", ns}}},
                {"eventTime", nowText},
                {"reportingController", controller_},
                {"reportingInstance", instance_},
                {"action", action},
                {"reason", reason},
                {"type", typeName},
                {"note", shortNote},
                {"regarding",
                 {{"apiVersion", regarding.value("apiVersion", "")},
                  {"kind", regarding.value("kind", "")},
                  {"namespace", ns},
                  {"name", name},
                  {"uid", meta.value("uid", "")},
                  {"resourceVersion", meta.value("resourceVersion", "")}}}};
  auto r = client_.create(kube::resources::events(), ns, event);
  if (!r.ok()) {
    log::warn("cannot record event",
              {{"object", ns + "/" + name}, {"reason", reason}, {"error", r.error().describe()}});
    return r.error();
  }
  return okStatus();
}

}  // namespace umbra::runtime
