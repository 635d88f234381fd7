#include "api/rebalance_policy.h"

#include <algorithm>
#include <cmath>

#include "api/spec_fields.h"

namespace umbra::api {

using nlohmann::json;
using namespace fields;

const kube::ResourceType& rebalancePolicies() {
  static const kube::ResourceType t{Group, Version, "rebalancepolicies", "RebalancePolicy", true};
  return t;
}

namespace {

int steps(std::chrono::milliseconds span, std::chrono::milliseconds interval) {
  if (interval.count() <= 0)
    return 1;
  return std::max(1, static_cast<int>(std::ceil(static_cast<double>(span.count()) /
                                                static_cast<double>(interval.count()))));
}

}  // namespace

int RebalanceSpec::horizonSteps() const {
  return steps(horizon, interval);
}
int RebalanceSpec::sustainedSteps() const {
  return steps(sustainedWindow, interval);
}

Result<RebalanceSpec> rebalanceSpecFrom(const json& o) {
  const json spec = o.value("spec", json::object());
  RebalanceSpec s;
  const json labels = spec.value("selector", json::object()).value("matchLabels", json::object());
  for (const auto& [k, v] : labels.items()) {
    if (!v.is_string())
      return fieldError(o, "spec.selector.matchLabels." + k, "not a string");
    s.selector[k] = v.get<std::string>();
  }
  if (s.selector.empty())
    return fieldError(o, "spec.selector.matchLabels", "needs at least one label");
  const std::string mode = spec.value("mode", "Apply");
  if (mode != "Apply" && mode != "Recommend")
    return fieldError(o, "spec.mode", "\"" + mode + "\" is not Apply or Recommend");
  s.mode = mode == "Apply" ? Mode::Apply : Mode::Recommend;
  UMBRA_TRY(s.target, decimalAt(o, spec, "target", "spec.target", s.target, 0.05));
  UMBRA_TRY(s.headroom, decimalAt(o, spec, "headroom", "spec.headroom", s.headroom, 0));
  if (s.target > 1)
    return fieldError(o, "spec.target", "must be at most 1");
  if (s.headroom >= s.target)
    return fieldError(o, "spec.headroom", "must be below spec.target");
  UMBRA_TRY(s.interval, durationAt(o, spec, "interval", "spec.interval", s.interval));
  UMBRA_TRY(s.sustainedWindow,
            durationAt(o, spec, "sustainedWindow", "spec.sustainedWindow", s.sustainedWindow));
  UMBRA_TRY(s.horizon, durationAt(o, spec, "horizon", "spec.horizon", s.horizon));
  UMBRA_TRY(s.history, durationAt(o, spec, "history", "spec.history", s.history));
  if (s.history < s.sustainedWindow)
    return fieldError(o, "spec.history", "must be at least spec.sustainedWindow");
  const json budget = spec.value("budget", json::object());
  UMBRA_TRY(s.maxInFlight,
            intAt(o, budget, "maxInFlight", "spec.budget.maxInFlight", s.maxInFlight, 1, 20));
  UMBRA_TRY(s.minInterval,
            durationAt(o, budget, "minInterval", "spec.budget.minInterval", s.minInterval));
  const json companions = spec.value("companions", json::object());
  s.companions = companions.value("enabled", false);
  UMBRA_TRY(s.companionShare,
            decimalAt(o, companions, "share", "spec.companions.share", s.companionShare, 0.01));
  if (s.companionShare > 0.1)
    return fieldError(o, "spec.companions.share", "must be at most 0.1");
  const std::string fidelity = companions.value("fidelity", "Synthetic");
  if (fidelity != "Synthetic" && fidelity != "Passive")
    return fieldError(o, "spec.companions.fidelity",
                      "\"" + fidelity + "\" is not Synthetic or Passive");
  s.companionFidelity = fidelity == "Synthetic" ? Fidelity::Synthetic : Fidelity::Passive;
  UMBRA_TRY(s.companionCpuPercent, intAt(o, companions, "cpuPercent", "spec.companions.cpuPercent",
                                         s.companionCpuPercent, 1, 100));
  return s;
}

bool RebalanceStatus::reported(const std::string& migration) const {
  return std::any_of(outcomes.begin(), outcomes.end(),
                     [&](const json& o) { return o.value("migration", "") == migration; });
}

std::string RebalanceStatus::conditionStatus(const std::string& type) const {
  return api::conditionStatus(conditions, type);
}

json toJson(const RebalanceStatus& s) {
  json j = s.report.is_object() ? s.report : json::object();
  if (s.observedGeneration)
    j["observedGeneration"] = *s.observedGeneration;
  j["outcomes"] = s.outcomes;
  json conditions = json::array();
  for (const auto& c : s.conditions)
    conditions.push_back(conditionJson(c));
  j["conditions"] = conditions;
  return j;
}

Result<RebalanceStatus> rebalanceStatusFromJson(const json& j) {
  RebalanceStatus s;
  if (!j.is_object())
    return s;
  if (j.contains("observedGeneration") && j["observedGeneration"].is_number_integer())
    s.observedGeneration = j["observedGeneration"].get<int64_t>();
  if (j.contains("outcomes") && j["outcomes"].is_array())
    s.outcomes = j["outcomes"];
  for (const char* k : {"vms", "overloaded", "moving", "companions", "pinnedCount", "lastDecision",
                        "hosts", "moves", "lastOutcome", "pinned"})
    if (j.contains(k))
      s.report[k] = j[k];
  for (const auto& c : j.value("conditions", json::array())) {
    UMBRA_TRY(auto cond, conditionFrom(c, "status.conditions"));
    s.conditions.push_back(std::move(cond));
  }
  return s;
}

}  // namespace umbra::api
