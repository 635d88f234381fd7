#include "api/shadow_pool.h"

#include <cmath>

#include "api/shadow_placement.h"
#include "api/spec_fields.h"
#include "kube_core/time.h"

namespace umbra::api {

using nlohmann::json;
using namespace fields;

const kube::ResourceType& shadowPools() {
  static const kube::ResourceType t{Group, Version, "shadowpools", "ShadowPool", true};
  return t;
}

const kube::ResourceType& loadNotices() {
  static const kube::ResourceType t{Group, Version, "loadnotices", "LoadNotice", true};
  return t;
}

int ShadowPoolSpec::horizonSteps() const {
  if (interval.count() <= 0)
    return 1;
  return std::max(1, static_cast<int>(std::ceil(static_cast<double>(horizon.count()) /
                                                static_cast<double>(interval.count()))));
}

Result<ShadowPoolSpec> shadowPoolSpecFrom(const json& o) {
  const json spec = o.value("spec", json::object());
  ShadowPoolSpec s;
  const json workload = spec.value("workload", json::object());
  if (workload.contains("template")) {
    s.tmpl = workload["template"];
    if (!s.tmpl.is_object() || !s.tmpl.value("spec", json::object()).contains("domain"))
      return fieldError(o, "spec.workload.template.spec.domain", "missing");
  }
  s.virtualMachinePool = workload.value("virtualMachinePool", "");
  if (s.tmpl.is_null() == s.virtualMachinePool.empty())
    return fieldError(o, "spec.workload", "needs exactly one of template and virtualMachinePool");
  const json label = workload.value("serviceLabel", json::object());
  s.serviceKey = label.value("key", "");
  s.serviceValue = label.value("value", "");
  if (s.serviceKey.empty())
    return fieldError(o, "spec.workload.serviceLabel.key", "missing");
  const json dormant = spec.value("dormant", json::object());
  const std::string state = dormant.value("state", "Paused");
  if (state != "Paused" && state != "Halted")
    return fieldError(o, "spec.dormant.state", "\"" + state + "\" is not Paused or Halted");
  s.dormant = state == "Paused" ? DormantState::Paused : DormantState::Halted;
  UMBRA_TRY(s.baselinePercent,
            intAt(o, dormant, "baselinePercent", "spec.dormant.baselinePercent", 100, 1, 100));
  UMBRA_TRY(s.minShadows, intAt(o, spec, "minShadows", "spec.minShadows", 1, 0, 50));
  UMBRA_TRY(s.maxShadows, intAt(o, spec, "maxShadows", "spec.maxShadows", 3, 1, 50));
  if (s.minShadows > s.maxShadows)
    return fieldError(o, "spec.minShadows", "must not exceed spec.maxShadows");
  const json trigger = spec.value("trigger", json::object());
  s.triggerQuery = trigger.value("query", "");
  UMBRA_TRY(s.threshold, decimalAt(o, trigger, "threshold", "spec.trigger.threshold", 0.8, 0));
  UMBRA_TRY(s.interval, durationAt(o, spec, "interval", "spec.interval", s.interval));
  UMBRA_TRY(s.horizon, durationAt(o, spec, "horizon", "spec.horizon", s.horizon));
  UMBRA_TRY(s.history, durationAt(o, spec, "history", "spec.history", s.history));
  UMBRA_TRY(s.idleAfter, durationAt(o, spec, "idleAfter", "spec.idleAfter", s.idleAfter));
  if (s.history < 4 * s.interval)
    return fieldError(o, "spec.history", "must cover at least four intervals");
  const json selector =
      spec.value("reservedHosts", json::object()).value("nodeSelector", json::object());
  for (const auto& [k, v] : selector.items()) {
    if (!v.is_string())
      return fieldError(o, "spec.reservedHosts.nodeSelector." + k, "not a string");
    s.reservedSelector[k] = v.get<std::string>();
  }
  return s;
}

Result<LoadNoticeSpec> loadNoticeSpecFrom(const json& o) {
  const json spec = o.value("spec", json::object());
  LoadNoticeSpec n;
  n.name = o["metadata"].value("name", "");
  n.pool = spec.value("pool", "");
  if (n.pool.empty())
    return fieldError(o, "spec.pool", "missing");
  std::optional<SystemTime> start, end;
  UMBRA_TRY(start, timeAt(o, spec, "start", "spec.start"));
  UMBRA_TRY(end, timeAt(o, spec, "end", "spec.end"));
  if (!start || !end)
    return fieldError(o, start ? "spec.end" : "spec.start", "missing");
  if (*end <= *start)
    return fieldError(o, "spec.end", "must be after spec.start");
  n.start = *start;
  n.end = *end;
  UMBRA_TRY(n.leadTime, durationAt(o, spec, "leadTime", "spec.leadTime", n.leadTime));
  const json load = spec.value("expectedLoad", json::object());
  if (load.contains("multiplier")) {
    double m = 0;
    UMBRA_TRY(m, decimalAt(o, load, "multiplier", "spec.expectedLoad.multiplier", 1, 1));
    n.multiplier = m;
  }
  if (load.contains("vcpus")) {
    int v = 0;
    UMBRA_TRY(v, intAt(o, load, "vcpus", "spec.expectedLoad.vcpus", 1, 1, 100000));
    n.vcpus = v;
  }
  if (n.multiplier.has_value() == n.vcpus.has_value())
    return fieldError(o, "spec.expectedLoad", "needs exactly one of multiplier and vcpus");
  n.reason = spec.value("reason", "");
  return n;
}

std::string ShadowPoolStatus::conditionStatus(const std::string& type) const {
  return api::conditionStatus(conditions, type);
}

namespace {

std::string decimal(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3f", v);
  return b;
}

}  // namespace

json toJson(const ShadowPoolStatus& s) {
  json j = s.report.is_object() ? s.report : json::object();
  if (s.observedGeneration)
    j["observedGeneration"] = *s.observedGeneration;
  json cost = j.value("cost", json::object());
  if (s.costUpdated)
    cost["updated"] = kube::formatTime(*s.costUpdated);
  cost["pausedMemoryGiBHours"] = decimal(s.pausedMemoryGiBHours);
  cost["reservedNodeHours"] = decimal(s.reservedNodeHours);
  cost["coldStartSecondsAvoided"] = decimal(s.coldStartSecondsAvoided);
  cost["activations"] = s.activations;
  cost["coldStarts"] = s.coldStarts;
  j["cost"] = cost;
  json idle = json::object();
  if (s.lowSince)
    idle["lowSince"] = kube::formatTime(*s.lowSince);
  if (s.surplusSince)
    idle["surplusSince"] = kube::formatTime(*s.surplusSince);
  j["idle"] = idle;
  if (s.lastRoundAt)
    j["lastRound"] = {{"time", kube::formatTime(*s.lastRoundAt)}, {"shadows", s.lastRoundSize}};
  if (!s.lastActivation.empty())
    j["lastActivation"] = s.lastActivation;
  json conditions = json::array();
  for (const auto& c : s.conditions)
    conditions.push_back(conditionJson(c));
  j["conditions"] = conditions;
  return j;
}

Result<ShadowPoolStatus> shadowPoolStatusFromJson(const json& j) {
  ShadowPoolStatus s;
  if (!j.is_object())
    return s;
  if (j.contains("observedGeneration") && j["observedGeneration"].is_number_integer())
    s.observedGeneration = j["observedGeneration"].get<int64_t>();
  const json root = {{"metadata", json::object()}};
  const json cost = j.value("cost", json::object());
  UMBRA_TRY(s.costUpdated, timeAt(root, cost, "updated", "status.cost.updated"));
  UMBRA_TRY(s.pausedMemoryGiBHours, decimalAt(root, cost, "pausedMemoryGiBHours",
                                              "status.cost.pausedMemoryGiBHours", 0, 0));
  UMBRA_TRY(s.reservedNodeHours,
            decimalAt(root, cost, "reservedNodeHours", "status.cost.reservedNodeHours", 0, 0));
  UMBRA_TRY(s.coldStartSecondsAvoided, decimalAt(root, cost, "coldStartSecondsAvoided",
                                                 "status.cost.coldStartSecondsAvoided", 0, 0));
  s.activations = cost.value("activations", 0);
  s.coldStarts = cost.value("coldStarts", 0);
  const json idle = j.value("idle", json::object());
  UMBRA_TRY(s.lowSince, timeAt(root, idle, "lowSince", "status.idle.lowSince"));
  UMBRA_TRY(s.surplusSince, timeAt(root, idle, "surplusSince", "status.idle.surplusSince"));
  const json round = j.value("lastRound", json::object());
  UMBRA_TRY(s.lastRoundAt, timeAt(root, round, "time", "status.lastRound.time"));
  s.lastRoundSize = round.value("shadows", 0);
  s.lastActivation = j.value("lastActivation", json::object());
  for (const char* k :
       {"dormant", "activating", "active", "shadows", "trigger", "predicted", "reserve", "notices"})
    if (j.contains(k))
      s.report[k] = j[k];
  if (cost.contains("summary"))
    s.report["cost"] = {{"summary", cost["summary"]}};
  for (const auto& c : j.value("conditions", json::array())) {
    UMBRA_TRY(auto cond, conditionFrom(c, "status.conditions"));
    s.conditions.push_back(std::move(cond));
  }
  return s;
}

}  // namespace umbra::api
