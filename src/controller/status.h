#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/clock.h"

namespace umbra::controller {

using Json = nlohmann::json;

namespace phase {
inline constexpr const char* Pending = "Pending";
inline constexpr const char* Probing = "Probing";
inline constexpr const char* Observing = "Observing";
inline constexpr const char* Placing = "Placing";
inline constexpr const char* Placed = "Placed";
inline constexpr const char* Recommended = "Recommended";
inline constexpr const char* Failed = "Failed";
}  // namespace phase

namespace condition {
inline constexpr const char* ShadowsReady = "ShadowsReady";
inline constexpr const char* MetricsAvailable = "MetricsAvailable";
inline constexpr const char* Decided = "Decided";
inline constexpr const char* Placed = "Placed";
}  // namespace condition

bool isTerminal(const std::string& phase);

// Sets a metav1.Condition in status.conditions, keeping lastTransitionTime when the status does
// not change (API conventions).
void setCondition(Json& status, const std::string& type, bool value, const std::string& reason,
                  const std::string& message, int64_t generation, SystemTime now);
// The condition's status ("True"/"False"/"Unknown"), "" when absent.
std::string conditionStatus(const Json& status, const std::string& type);

// Sets phase, reason and message together.
void setPhase(Json& status, const std::string& phase, const std::string& reason,
              const std::string& message);

}  // namespace umbra::controller
