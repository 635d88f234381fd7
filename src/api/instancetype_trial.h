#pragma once

// The InstancetypeTrial API (umbra.io/v1alpha1; crds/instancetypetrials.umbra.io.yaml): which
// KubeVirt instancetype a running VirtualMachine should have, decided by shadows of the candidate
// types fed a mirrored share of its requests (docs/instancetype-trials.md). Its typed spec and
// the status a pass reads back: the candidates' states and measurements are the trial's memory.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/shadow_placement.h"
#include "api/shadow_placement_status.h"
#include "common/result.h"
#include "kube_core/resource.h"

namespace umbra::api {

const kube::ResourceType& instancetypeTrials();

// On a trial's shadows and mirroring objects: the trial's name; on a shadow, its candidate type.
inline constexpr const char* TrialLabel = "umbra.io/trial";
inline constexpr const char* TrialTypeLabel = "umbra.io/instancetype";

inline constexpr const char* ClusterInstancetypeKind = "VirtualMachineClusterInstancetype";
inline constexpr const char* InstancetypeKind = "VirtualMachineInstancetype";

struct InstancetypeRef {
  std::string name;
  std::string kind = ClusterInstancetypeKind;
  friend bool operator==(const InstancetypeRef&, const InstancetypeRef&) = default;
};

struct TrialSpec {
  std::string target;  // a VirtualMachine in the trial's namespace
  std::vector<InstancetypeRef> candidates;
  bool neighbours = false;     // explore: also try the best type's sizes one down and one up
  bool aroundCurrent = false;  // explore: the VM's type and its sizes one down and up join
  int maxCandidates = 6;       // in all, with the neighbours
  double p95LatencyMs = 0;     // the SLO at full load
  double percentage = 2;       // of the target's requests, mirrored to each shadow
  std::string service;         // the target's Service ("": the one that selects it)
  std::chrono::milliseconds duration{std::chrono::minutes(10)};  // each candidate's observation
  int maxConcurrentShadows = 3;
  Mode mode = Mode::Recommend;
};

// Reads an InstancetypeTrial; a Terminal error names the field the API server could not check.
Result<TrialSpec> trialSpecFrom(const nlohmann::json& trial);

namespace trial_phase {
inline constexpr const char* Pending = "Pending";  // waiting for its target or the mesh
inline constexpr const char* Running = "Running";
inline constexpr const char* Completed = "Completed";
inline constexpr const char* Failed = "Failed";
}  // namespace trial_phase

namespace trial_condition {
inline constexpr const char* Mirroring = "Mirroring";  // the mesh copies the requests
inline constexpr const char* Completed = "Completed";
// The shadows' requests, latency and CPU (and the VM's memory in use) could be read.
inline constexpr const char* MetricsAvailable = "MetricsAvailable";
}  // namespace trial_condition

// A candidate's state: Queued -> Running -> Measured or Dropped (clearly worse at half its
// observation) or Failed (its instancetype does not exist, its shadow failed or no request
// reached it).
namespace candidate_state {
inline constexpr const char* Queued = "Queued";
inline constexpr const char* Running = "Running";
inline constexpr const char* Measured = "Measured";
inline constexpr const char* Dropped = "Dropped";
inline constexpr const char* Failed = "Failed";
}  // namespace candidate_state

// What a candidate showed, at the mirrored share and scaled to the full load.
struct TrialMeasurement {
  double requestsPerSecond = 0;  // full load: the shadow's / the share
  double p50Ms = 0, p95Ms = 0;   // full load
  double cpuPerRequestMs = 0;    // CPU time a request costs on this type
  double utilisation = 0;        // the type's vCPUs busy at full load, 0..1 (1: saturated)
  double steal = 0;              // share of its vCPUs' time lost waiting for a host CPU
  friend bool operator==(const TrialMeasurement&, const TrialMeasurement&) = default;
};

struct TrialCandidate {
  InstancetypeRef ref;
  std::string state = candidate_state::Queued;
  std::string shadow;  // its shadow VMI's name, once Running
  std::optional<SystemTime> startedAt;
  int vcpus = 0;
  double memoryGiB = 0;
  double costPerHour = 0;
  std::optional<TrialMeasurement> measured;
  bool meetsSlo = false;
  int extensions = 0;                // observations added for too few requests
  std::optional<double> confidence;  // of its p95, once measured (placement::trialConfidence)
  bool explored = false;             // added as a neighbour of the best
  std::string reason;                // why it ended as it did
  friend bool operator==(const TrialCandidate&, const TrialCandidate&) = default;
};

struct TrialStatus {
  std::optional<int64_t> observedGeneration;
  std::string phase;
  std::optional<SystemTime> startedAt, completedAt;
  std::optional<InstancetypeRef> current;  // the target's instancetype when the trial began
  std::vector<TrialCandidate> candidates;
  std::optional<InstancetypeRef> recommendation;
  std::string recommendationReason;
  bool applied = false;
  // The shadows' cost over the trial, in percent of the VM's at its current type over the same
  // time (unknown: the VM has no instancetype).
  std::optional<double> shadowCostPercent;
  std::optional<double> memoryInUseGiB;  // the VM's peak memory in use since the trial began
  std::vector<Condition> conditions;

  const TrialCandidate* candidate(const std::string& name) const;
  std::string conditionStatus(const std::string& type) const;
  friend bool operator==(const TrialStatus&, const TrialStatus&) = default;
};

nlohmann::json toJson(const TrialStatus& status);
Result<TrialStatus> trialStatusFromJson(const nlohmann::json& status);

}  // namespace umbra::api
