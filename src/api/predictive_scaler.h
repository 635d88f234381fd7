#pragma once

// The PredictiveScaler API (umbra.io/v1alpha1, crds/predictivescalers.umbra.io.yaml): its typed
// spec, and the part of its status a pass reads back.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/shadow_placement.h"
#include "api/shadow_placement_status.h"
#include "common/result.h"

namespace umbra::api {

const kube::ResourceType& predictiveScalers();

enum class ScaleTargetKind { VirtualMachine, VirtualMachinePool };
const char* toString(ScaleTargetKind kind);

struct ScalerSpec {
  ScaleTargetKind kind = ScaleTargetKind::VirtualMachine;
  std::string targetName;
  Mode mode = Mode::Recommend;
  std::chrono::milliseconds interval{std::chrono::minutes(5)};
  std::chrono::milliseconds history{std::chrono::hours(48)};
  std::chrono::milliseconds leadTime{};  // zero: two intervals
  int targetUtilization = 100;           // percent
  int underProvisionedPercent = 1;
  std::chrono::milliseconds stabilizationWindow{std::chrono::minutes(30)};
  int anomalySteps = 2, minExcessPercent = 10, aggressivePercent = 150, holdSteps = 6;
  struct Range {
    double min = 0, max = 0;
  };
  std::optional<Range> sockets;   // vertical.cpu
  std::optional<Range> memory;    // vertical.memory, bytes
  std::optional<Range> replicas;  // horizontal

  // The lead time in passes (at least one).
  int leadSteps() const;
};

// Reads a PredictiveScaler. The API server has validated the schema; this checks what it cannot
// (and an older CRD) and returns a Terminal error naming the field, e.g.
// "ns/web: spec.interval: \"5 minutes\" is not a duration".
Result<ScalerSpec> scalerSpecFrom(const nlohmann::json& scaler);

namespace scaler_condition {
inline constexpr const char* Ready = "Ready";
inline constexpr const char* ScalingActive = "ScalingActive";
inline constexpr const char* AnomalyDetected = "AnomalyDetected";
inline constexpr const char* MetricsAvailable = "MetricsAvailable";
}  // namespace scaler_condition

// PredictiveScaler.status. The report blocks (current, demand, forecast, pattern, recommendation)
// are rewritten every pass; what a later pass reads back is typed: the feedback's headroom
// multiple, the last action and anomaly, the conditions.
struct ScalerStatus {
  std::optional<int64_t> observedGeneration;
  std::optional<double> headroomMultiple;
  std::optional<SystemTime> lastActionTime;
  std::string lastActionTo;  // what the last action set, as written ("3 sockets", "5 replicas")
  std::optional<SystemTime> lastAnomalyTime;
  nlohmann::json current = nlohmann::json::object(), demand = nlohmann::json::object(),
                 forecast = nlohmann::json::object(), pattern = nlohmann::json::object(),
                 recommendation = nlohmann::json::object(), lastAction = nlohmann::json::object(),
                 lastAnomaly = nlohmann::json::object();
  std::vector<Condition> conditions;

  std::string conditionStatus(const std::string& type) const;
  friend bool operator==(const ScalerStatus&, const ScalerStatus&) = default;
};

nlohmann::json toJson(const ScalerStatus& status);
// Rejects a status no Umbra wrote (a time or a multiple that does not parse), naming the field.
Result<ScalerStatus> scalerStatusFromJson(const nlohmann::json& status);

}  // namespace umbra::api
