#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/result.h"

namespace umbra::api {

// The README's state machine. `New` is a placement with no status yet.
//   New/Pending -> Probing (shadows created) -> Observing (all running) -> Placing (Apply)
//   -> Placed; Observing -> Recommended (Recommend); Failed on a terminal error.
enum class Phase { New, Pending, Probing, Observing, Placing, Placed, Recommended, Failed };
const char* toString(Phase phase);  // "" for New
bool isTerminal(Phase phase);       // Placed, Recommended, Failed

enum class ShadowPhase { Pending, Running, Dropped };
const char* toString(ShadowPhase phase);

// One shadow of status.shadows: the candidate node it probes and how it fares.
struct ShadowStatus {
  std::string node;
  std::string name;
  ShadowPhase phase = ShadowPhase::Pending;
  std::optional<SystemTime> runningSince;  // whole seconds (metav1.Time)
  std::string reason;                      // why it was dropped
  friend bool operator==(const ShadowStatus&, const ShadowStatus&) = default;
};

struct PredictedContention {
  double cpuContention = 0;
  double memoryPressure = 0;
  double ioWait = 0;
  double networkLatency = 0;
  friend bool operator==(const PredictedContention&, const PredictedContention&) = default;
};

// One ranked candidate of status.candidates, written with the decision.
struct CandidateStatus {
  std::string node;
  double score = 0;
  double confidence = 0;
  PredictedContention predicted;
  std::string reason;
  std::string excluded;  // why the node could not host the VM (no shadow, no score); "" if probed
  friend bool operator==(const CandidateStatus&, const CandidateStatus&) = default;
};

enum class MovePhase { Moving, Succeeded, Failed };
const char* toString(MovePhase phase);

// One attempt to move the target to a chosen node, in status.moves: a Placed placement is one
// whose last move the world confirmed (the VMI runs on the node).
struct MoveStatus {
  std::string node;
  std::string migration;  // the VirtualMachineInstanceMigration, if one was needed
  std::string action;     // what was done, in words ("migration ... created")
  MovePhase phase = MovePhase::Moving;
  std::optional<SystemTime> startedAt;  // whole seconds
  std::string reason;                   // why it failed
  friend bool operator==(const MoveStatus&, const MoveStatus&) = default;
};

// A metav1.Condition.
struct Condition {
  std::string type;
  std::string status;  // "True", "False" or "Unknown"
  std::string reason;
  std::string message;
  int64_t observedGeneration = 0;
  std::optional<SystemTime> lastTransitionTime;
  friend bool operator==(const Condition&, const Condition&) = default;
};

namespace condition {
inline constexpr const char* ShadowsReady = "ShadowsReady";
inline constexpr const char* MetricsAvailable = "MetricsAvailable";
inline constexpr const char* Decided = "Decided";
inline constexpr const char* Placed = "Placed";
inline constexpr const char* Mirroring = "Mirroring";  // fidelity Mirror: the mesh copies requests
}  // namespace condition

// ShadowPlacement.status. It records only what the world cannot tell again (the chosen
// candidates, when observation started, extensions, the decision), so a restart resumes.
struct ShadowPlacementStatus {
  Phase phase = Phase::New;
  std::string reason;
  std::string message;
  std::optional<int64_t> observedGeneration;
  std::vector<ShadowStatus> shadows;
  int extensions = 0;
  std::optional<SystemTime> observationStartedAt;  // whole seconds
  std::vector<CandidateStatus> candidates;
  std::string selectedNode;
  std::optional<double> confidence;
  std::string model;
  std::optional<SystemTime> decidedAt;
  std::vector<MoveStatus> moves;
  std::vector<Condition> conditions;

  friend bool operator==(const ShadowPlacementStatus&, const ShadowPlacementStatus&) = default;

  void setPhase(Phase p, std::string why, std::string text);
  // Sets a condition, keeping lastTransitionTime while its status does not change (API
  // conventions). `now` is truncated to whole seconds, as metav1.Time stores it.
  void setCondition(const std::string& type, bool value, std::string why, std::string text,
                    int64_t generation, SystemTime now);
  // The condition's status ("True"/"False"/"Unknown"); "" when absent.
  std::string conditionStatus(const std::string& type) const;
  // The shadows still probing (not Dropped): status.shadowCount.
  int liveShadows() const;
  // The condition's message; "" when absent.
  std::string conditionMessage(const std::string& type) const;
};

// Sets a condition of `conditions`, keeping lastTransitionTime while its status does not change.
void setCondition(std::vector<Condition>& conditions, const std::string& type, bool value,
                  std::string why, std::string text, int64_t generation, SystemTime now);
// The status ("True"/"False"/"Unknown") of condition `type` in `conditions`; "" when absent.
std::string conditionStatus(const std::vector<Condition>& conditions, const std::string& type);
// A metav1.Condition's JSON, and back (`where` names the field in errors).
nlohmann::json conditionJson(const Condition& c);
Result<Condition> conditionFrom(const nlohmann::json& j, const std::string& where);

// The one JSON mapping of the status (keys spelled once, in the .cc). fromJson rejects a status
// no Umbra wrote (an unknown phase, a time that does not parse), naming the field.
nlohmann::json toJson(const ShadowPlacementStatus& status);
Result<ShadowPlacementStatus> statusFromJson(const nlohmann::json& status);

// A time as metav1.Time keeps it: whole seconds.
SystemTime wholeSeconds(SystemTime t);

}  // namespace umbra::api
