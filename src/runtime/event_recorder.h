#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/result.h"
#include "kube/client.h"

namespace umbra::runtime {

enum class EventType { Normal, Warning };

// Writes events.k8s.io/v1 Events about an object. Repeats of the same (object, type, reason,
// action, note) within the series window are aggregated into the first Event's `series`
// (count, lastObservedTime) instead of creating a new object, as client-go's events broadcaster
// does. Thread-safe. Failures are logged and returned, never thrown.
class EventRecorder {
 public:
  EventRecorder(kube::KubeClient& client, std::string reportingController,
                std::string reportingInstance, const Clock& clock = RealClock::instance());

  // `regarding` is the object (apiVersion, kind, metadata.{namespace,name,uid,resourceVersion}).
  Status record(const nlohmann::json& regarding, EventType type, const std::string& reason,
                const std::string& action, const std::string& note);

  // Queues the Event and returns at once; a background thread writes it (client-go's broadcaster
  // does the same), so a reconcile pass never waits for an Event round trip. When more than
  // MaxQueued are waiting, new ones are dropped with a warning.
  void post(const nlohmann::json& regarding, EventType type, const std::string& reason,
            const std::string& action, const std::string& note);

  // Waits until every posted Event was written (or failed); false on timeout.
  bool flush(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  ~EventRecorder();  // delivers what is queued, for at most ShutdownGrace

  static constexpr std::chrono::minutes SeriesWindow{6};
  static constexpr size_t MaxTracked = 4096;  // older entries are pruned past this
  static constexpr size_t MaxQueued = 1000;
  static constexpr std::chrono::seconds ShutdownGrace{2};

 private:
  struct Seen {
    std::string eventName;
    std::string ns;
    int64_t count = 1;
    SteadyTime last{};
  };

  struct Posted {
    nlohmann::json regarding;
    EventType type;
    std::string reason, action, note;
  };
  void deliver();

  kube::KubeClient& client_;
  std::string controller_;
  std::string instance_;
  const Clock& clock_;
  std::mutex mutex_;
  std::map<std::string, Seen> seen_;
  uint64_t sequence_ = 0;

  std::mutex queueMutex_;
  std::condition_variable queueChanged_;
  std::deque<Posted> queue_;
  bool delivering_ = false;  // the thread holds an Event it is writing
  bool stopping_ = false;
  std::thread thread_;  // started by the first post()
};

}  // namespace umbra::runtime
