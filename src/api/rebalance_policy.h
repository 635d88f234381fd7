#pragma once

// The RebalancePolicy API (umbra.io/v1alpha1; crds/rebalancepolicies.umbra.io.yaml): its typed
// spec, and the part of its status a pass reads back.
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/shadow_placement.h"
#include "api/shadow_placement_status.h"
#include "common/result.h"
#include "kube_core/resource.h"

namespace umbra::api {

const kube::ResourceType& rebalancePolicies();

// On the migrations a policy starts and the companions it keeps: the policy's name, and the VM.
inline constexpr const char* RebalancePolicyLabel = "umbra.io/rebalance-policy";
inline constexpr const char* RebalanceVmLabel = "umbra.io/rebalance-vm";
// On a companion VMI (besides umbra.io/role=shadow): the VM it accompanies.
inline constexpr const char* CompanionOfLabel = "umbra.io/companion-of";
// On a migration: the evidence it was started on (the Event's note).
inline constexpr const char* RebalanceReasonAnnotation = "umbra.io/rebalance-reason";

struct RebalanceSpec {
  std::map<std::string, std::string> selector;  // matchLabels of the VMs
  Mode mode = Mode::Apply;
  double target = 0.8, headroom = 0.1;
  std::chrono::milliseconds interval{std::chrono::minutes(1)};
  std::chrono::milliseconds sustainedWindow{std::chrono::minutes(10)};
  std::chrono::milliseconds horizon{std::chrono::minutes(30)};
  std::chrono::milliseconds history{std::chrono::hours(6)};
  int maxInFlight = 2;
  std::chrono::milliseconds minInterval{std::chrono::hours(1)};
  bool companions = false;
  double companionShare = 0.05;
  Fidelity companionFidelity = Fidelity::Synthetic;
  int companionCpuPercent = 50;

  // The horizon and the sustained window in intervals (at least one).
  int horizonSteps() const;
  int sustainedSteps() const;
};

// Reads a RebalancePolicy; a Terminal error names the field the API server could not check.
Result<RebalanceSpec> rebalanceSpecFrom(const nlohmann::json& policy);

namespace rebalance_condition {
inline constexpr const char* Ready = "Ready";                        // the policy decides
inline constexpr const char* MetricsAvailable = "MetricsAvailable";  // the hosts' telemetry
// True while a selected VM is left in place: not live-migratable, its eviction strategy, or a
// disruption budget that allows no disruption (the VMs in status.pinned).
inline constexpr const char* VMsPinned = "VMsPinned";
}  // namespace rebalance_condition

// RebalancePolicy.status. The report (counts, hosts, moves, pinned VMs) is rewritten every pass;
// what a pass reads back: the outcomes already reported (an Event each, once) and the conditions.
struct RebalanceStatus {
  std::optional<int64_t> observedGeneration;
  nlohmann::json report = nlohmann::json::object();
  nlohmann::json outcomes = nlohmann::json::array();  // newest first, at most MaxOutcomes
  std::vector<Condition> conditions;

  static constexpr size_t MaxOutcomes = 10;
  // Whether the outcome of migration `name` is already in status.outcomes.
  bool reported(const std::string& migration) const;
  std::string conditionStatus(const std::string& type) const;
  friend bool operator==(const RebalanceStatus&, const RebalanceStatus&) = default;
};

nlohmann::json toJson(const RebalanceStatus& status);
Result<RebalanceStatus> rebalanceStatusFromJson(const nlohmann::json& status);

}  // namespace umbra::api
