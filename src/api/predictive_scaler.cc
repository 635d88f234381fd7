#include "api/predictive_scaler.h"

#include <cmath>

#include "api/spec_fields.h"
#include "kube_core/object.h"
#include "kube_core/quantity.h"
#include "kube_core/time.h"

namespace umbra::api {

using nlohmann::json;

using fields::durationAt;
using fields::fieldError;
using fields::intAt;

const kube::ResourceType& predictiveScalers() {
  static const kube::ResourceType t{Group, Version, "predictivescalers", "PredictiveScaler", true};
  return t;
}

const char* toString(ScaleTargetKind kind) {
  return kind == ScaleTargetKind::VirtualMachine ? "VirtualMachine" : "VirtualMachinePool";
}

int ScalerSpec::leadSteps() const {
  if (leadTime.count() <= 0 || interval.count() <= 0)
    return 2;
  return std::max(1, static_cast<int>(std::ceil(static_cast<double>(leadTime.count()) /
                                                static_cast<double>(interval.count()))));
}

Result<ScalerSpec> scalerSpecFrom(const json& o) {
  const json spec = o.value("spec", json::object());
  if (!spec.is_object())
    return fieldError(o, "spec", "missing");
  ScalerSpec s;
  const json target = spec.value("target", json::object());
  const std::string kind = target.value("kind", "");
  if (kind == "VirtualMachine")
    s.kind = ScaleTargetKind::VirtualMachine;
  else if (kind == "VirtualMachinePool")
    s.kind = ScaleTargetKind::VirtualMachinePool;
  else
    return fieldError(o, "spec.target.kind",
                      "\"" + kind + "\" is not VirtualMachine or VirtualMachinePool");
  s.targetName = target.value("name", "");
  if (s.targetName.empty())
    return fieldError(o, "spec.target.name", "missing");
  const std::string mode = spec.value("mode", "Recommend");
  if (mode != "Apply" && mode != "Recommend")
    return fieldError(o, "spec.mode", "\"" + mode + "\" is not Apply or Recommend");
  s.mode = mode == "Apply" ? Mode::Apply : Mode::Recommend;
  UMBRA_TRY(s.interval, durationAt(o, spec, "interval", "spec.interval", s.interval));
  UMBRA_TRY(s.history, durationAt(o, spec, "history", "spec.history", s.history));
  UMBRA_TRY(s.leadTime, durationAt(o, spec, "leadTime", "spec.leadTime", s.leadTime));
  if (s.history < 4 * s.interval)
    return fieldError(o, "spec.history", "must cover at least four intervals");
  UMBRA_TRY(s.targetUtilization,
            intAt(o, spec, "targetUtilization", "spec.targetUtilization", 100, 1, 100));
  UMBRA_TRY(s.underProvisionedPercent,
            intAt(o, spec, "underProvisionedPercent", "spec.underProvisionedPercent", 1, 1, 50));
  const json down = spec.value("scaleDown", json::object());
  UMBRA_TRY(s.stabilizationWindow,
            durationAt(o, down, "stabilizationWindow", "spec.scaleDown.stabilizationWindow",
                       s.stabilizationWindow));
  const json anomaly = spec.value("anomaly", json::object());
  UMBRA_TRY(s.anomalySteps,
            intAt(o, anomaly, "consecutiveSteps", "spec.anomaly.consecutiveSteps", 2, 1, 6));
  UMBRA_TRY(s.minExcessPercent,
            intAt(o, anomaly, "minExcessPercent", "spec.anomaly.minExcessPercent", 10, 1, 100));
  UMBRA_TRY(s.aggressivePercent, intAt(o, anomaly, "aggressivePercent",
                                       "spec.anomaly.aggressivePercent", 150, 100, 400));
  UMBRA_TRY(s.holdSteps, intAt(o, anomaly, "holdSteps", "spec.anomaly.holdSteps", 6, 0, 100));
  const json vertical = spec.value("vertical", json::object());
  if (vertical.contains("cpu")) {
    const json cpu = vertical["cpu"];
    int lo = 0, hi = 0;
    UMBRA_TRY(lo, intAt(o, cpu, "minSockets", "spec.vertical.cpu.minSockets", 0, 1, 512));
    UMBRA_TRY(hi, intAt(o, cpu, "maxSockets", "spec.vertical.cpu.maxSockets", 0, 1, 512));
    if (lo < 1 || hi < lo)
      return fieldError(o, "spec.vertical.cpu", "minSockets must be set and not exceed maxSockets");
    s.sockets = ScalerSpec::Range{static_cast<double>(lo), static_cast<double>(hi)};
  }
  if (vertical.contains("memory")) {
    const json m = vertical["memory"];
    const auto lo = kube::parseQuantity(m.value("min", ""));
    const auto hi = kube::parseQuantity(m.value("max", ""));
    if (!lo)
      return fieldError(o, "spec.vertical.memory.min",
                        "\"" + m.value("min", "") + "\" is not a quantity");
    if (!hi)
      return fieldError(o, "spec.vertical.memory.max",
                        "\"" + m.value("max", "") + "\" is not a quantity");
    if (*hi < *lo)
      return fieldError(o, "spec.vertical.memory", "min must not exceed max");
    s.memory = ScalerSpec::Range{*lo, *hi};
  }
  if (spec.contains("horizontal")) {
    const json h = spec["horizontal"];
    int lo = 0, hi = 0;
    UMBRA_TRY(lo, intAt(o, h, "minReplicas", "spec.horizontal.minReplicas", 0, 0, 10000));
    UMBRA_TRY(hi, intAt(o, h, "maxReplicas", "spec.horizontal.maxReplicas", 0, 1, 10000));
    if (hi < lo || hi < 1)
      return fieldError(o, "spec.horizontal", "minReplicas must not exceed maxReplicas");
    s.replicas = ScalerSpec::Range{static_cast<double>(lo), static_cast<double>(hi)};
  }
  if (s.kind == ScaleTargetKind::VirtualMachine && !s.sockets && !s.memory)
    return fieldError(o, "spec.vertical", "a VirtualMachine target needs cpu or memory bounds");
  if (s.kind == ScaleTargetKind::VirtualMachinePool && !s.replicas)
    return fieldError(o, "spec.horizontal", "a VirtualMachinePool target needs replica bounds");
  return s;
}

std::string ScalerStatus::conditionStatus(const std::string& type) const {
  return api::conditionStatus(conditions, type);
}

json toJson(const ScalerStatus& s) {
  json j = json::object();
  if (s.observedGeneration)
    j["observedGeneration"] = *s.observedGeneration;
  if (s.headroomMultiple) {
    char b[32];
    std::snprintf(b, sizeof b, "%.4f", *s.headroomMultiple);
    j["headroomMultiple"] = b;
  }
  const auto put = [&](const char* k, const json& v) {
    if (!v.empty())
      j[k] = v;
  };
  put("current", s.current);
  put("demand", s.demand);
  put("forecast", s.forecast);
  put("pattern", s.pattern);
  put("recommendation", s.recommendation);
  json last = s.lastAction;
  if (s.lastActionTime) {
    last["time"] = kube::formatTime(*s.lastActionTime);
    last["to"] = s.lastActionTo;
  }
  put("lastAction", last);
  json anomaly = s.lastAnomaly;
  if (s.lastAnomalyTime)
    anomaly["time"] = kube::formatTime(*s.lastAnomalyTime);
  put("lastAnomaly", anomaly);
  json conditions = json::array();
  for (const auto& c : s.conditions)
    conditions.push_back(conditionJson(c));
  j["conditions"] = conditions;
  return j;
}

Result<ScalerStatus> scalerStatusFromJson(const json& j) {
  ScalerStatus s;
  if (!j.is_object())
    return s;
  if (j.contains("observedGeneration") && j["observedGeneration"].is_number_integer())
    s.observedGeneration = j["observedGeneration"].get<int64_t>();
  if (j.contains("headroomMultiple")) {
    const std::string m =
        j["headroomMultiple"].is_string() ? j["headroomMultiple"].get<std::string>() : "";
    char* end = nullptr;
    const double v = std::strtod(m.c_str(), &end);
    if (m.empty() || end == nullptr || *end != '\0' || !std::isfinite(v) || v < 0)
      return Error::make(ErrorKind::Terminal,
                         "status.headroomMultiple: \"" + m + "\" is not a number");
    s.headroomMultiple = v;
  }
  const auto obj = [&](const char* k) { return j.value(k, json::object()); };
  s.current = obj("current");
  s.demand = obj("demand");
  s.forecast = obj("forecast");
  s.pattern = obj("pattern");
  s.recommendation = obj("recommendation");
  s.lastAction = obj("lastAction");
  s.lastAnomaly = obj("lastAnomaly");
  if (s.lastAction.contains("time")) {
    s.lastActionTime = kube::parseTime(s.lastAction.value("time", ""));
    if (!s.lastActionTime)
      return Error::make(ErrorKind::Terminal, "status.lastAction.time does not parse");
    s.lastActionTo = s.lastAction.value("to", "");
    s.lastAction.erase("time");
    s.lastAction.erase("to");
  }
  if (s.lastAnomaly.contains("time")) {
    s.lastAnomalyTime = kube::parseTime(s.lastAnomaly.value("time", ""));
    if (!s.lastAnomalyTime)
      return Error::make(ErrorKind::Terminal, "status.lastAnomaly.time does not parse");
    s.lastAnomaly.erase("time");
  }
  for (const auto& c : j.value("conditions", json::array())) {
    UMBRA_TRY(auto cond, conditionFrom(c, "status.conditions"));
    s.conditions.push_back(std::move(cond));
  }
  return s;
}

}  // namespace umbra::api
