#pragma once

#include <map>
#include <mutex>
#include <string>

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

  static constexpr std::chrono::minutes SeriesWindow{6};
  static constexpr size_t MaxTracked = 4096;  // older entries are pruned past this

 private:
  struct Seen {
    std::string eventName;
    std::string ns;
    int64_t count = 1;
    SteadyTime last{};
  };

  kube::KubeClient& client_;
  std::string controller_;
  std::string instance_;
  const Clock& clock_;
  std::mutex mutex_;
  std::map<std::string, Seen> seen_;
  uint64_t sequence_ = 0;
};

}  // namespace umbra::runtime
