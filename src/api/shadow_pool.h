#pragma once

// The ShadowPool and LoadNotice APIs (umbra.io/v1alpha1; crds/shadowpools.umbra.io.yaml,
// crds/loadnotices.umbra.io.yaml): their typed specs, and the part of a pool's status a pass
// reads back.
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/shadow_placement_status.h"
#include "common/result.h"
#include "kube_core/resource.h"

namespace umbra::api {

const kube::ResourceType& shadowPools();
const kube::ResourceType& loadNotices();

// Labels and annotations on the shadows' VMs (and, through their template, their VMIs).
inline constexpr const char* ShadowPoolLabel = "umbra.io/shadow-pool";    // the pool's name
inline constexpr const char* ShadowStateLabel = "umbra.io/shadow-state";  // dormant | active
// On a shadow VM: when its activation began (RFC 3339), the trigger's value then, and when it
// started serving (the Service's label written).
inline constexpr const char* ActivationStartedAnnotation = "umbra.io/activation-started";
inline constexpr const char* ActivationTriggerAnnotation = "umbra.io/activation-trigger";
inline constexpr const char* ServingSinceAnnotation = "umbra.io/serving-since";
inline constexpr const char* ColdStartAnnotation = "umbra.io/cold-start";  // "true"
// On reserved nodes: the label and the taint (value: namespace.pool).
inline constexpr const char* ReservedForLabel = "umbra.io/reserved-for";
inline constexpr const char* ReservedTaintKey = "umbra.io/reserved";

enum class DormantState { Paused, Halted };

struct ShadowPoolSpec {
  // The workload: one of a VM template (metadata + VMI spec) and a VirtualMachinePool's name.
  nlohmann::json tmpl;  // null when the pool names a VirtualMachinePool
  std::string virtualMachinePool;
  std::string serviceKey, serviceValue;
  DormantState dormant = DormantState::Paused;
  int baselinePercent = 100;
  int minShadows = 1, maxShadows = 3;
  std::string triggerQuery;  // "" the default utilisation
  double threshold = 0.8;
  std::chrono::milliseconds interval{std::chrono::seconds(30)};
  std::chrono::milliseconds horizon{std::chrono::minutes(30)};
  std::chrono::milliseconds history{std::chrono::hours(24)};
  std::chrono::milliseconds idleAfter{std::chrono::minutes(10)};
  std::map<std::string, std::string> reservedSelector;  // empty: no reserved hosts

  // The horizon in passes (at least one).
  int horizonSteps() const;
};

// Reads a ShadowPool; a Terminal error names the field the API server could not check.
Result<ShadowPoolSpec> shadowPoolSpecFrom(const nlohmann::json& pool);

struct LoadNoticeSpec {
  std::string name;
  std::string pool;
  SystemTime start{}, end{};
  std::chrono::milliseconds leadTime{std::chrono::minutes(10)};
  std::optional<double> multiplier;
  std::optional<int> vcpus;
  std::string reason;
};
Result<LoadNoticeSpec> loadNoticeSpecFrom(const nlohmann::json& notice);

namespace pool_condition {
inline constexpr const char* Ready = "Ready";  // the reserve is held
inline constexpr const char* MetricsAvailable = "MetricsAvailable";
inline constexpr const char* ReservedHostsReady = "ReservedHostsReady";
}  // namespace pool_condition

// ShadowPool.status. The report blocks are rewritten every pass; what a pass reads back is typed:
// the cost accumulators and their clock, when the trigger went low, the last activation.
struct ShadowPoolStatus {
  std::optional<int64_t> observedGeneration;
  // Cost accumulated up to costUpdated.
  std::optional<SystemTime> costUpdated;
  double pausedMemoryGiBHours = 0, reservedNodeHours = 0, coldStartSecondsAvoided = 0;
  int activations = 0, coldStarts = 0;
  // Since when the trigger has stayed below half its threshold (idle), and since when more
  // dormant shadows than the reserve have been held.
  std::optional<SystemTime> lowSince, surplusSince;
  // The last round of activations: when it was decided and how many shadows it asked for. A round
  // that follows while the trigger still fires doubles it (the saturated trigger understates).
  std::optional<SystemTime> lastRoundAt;
  int lastRoundSize = 0;
  nlohmann::json lastActivation = nlohmann::json::object();
  nlohmann::json report = nlohmann::json::object();  // dormant, active, shadows, trigger, ...
  std::vector<Condition> conditions;

  std::string conditionStatus(const std::string& type) const;
  friend bool operator==(const ShadowPoolStatus&, const ShadowPoolStatus&) = default;
};

nlohmann::json toJson(const ShadowPoolStatus& status);
Result<ShadowPoolStatus> shadowPoolStatusFromJson(const nlohmann::json& status);

}  // namespace umbra::api
