#include "api/instancetype_trial.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "api/spec_fields.h"
#include "kube_core/time.h"

namespace umbra::api {

using nlohmann::json;
using namespace fields;

const kube::ResourceType& instancetypeTrials() {
  static const kube::ResourceType t{Group, Version, "instancetypetrials", "InstancetypeTrial",
                                    true};
  return t;
}

namespace {

Result<InstancetypeRef> refFrom(const json& o, const json& r, const std::string& field) {
  InstancetypeRef ref;
  ref.name = r.value("name", "");
  if (ref.name.empty())
    return fieldError(o, field + ".name", "is required");
  ref.kind = r.value("kind", ClusterInstancetypeKind);
  if (ref.kind != ClusterInstancetypeKind && ref.kind != InstancetypeKind)
    return fieldError(
        o, field + ".kind",
        "\"" + ref.kind + "\" is not " + ClusterInstancetypeKind + " or " + InstancetypeKind);
  return ref;
}

json refJson(const InstancetypeRef& r) {
  return {{"name", r.name}, {"kind", r.kind}};
}

InstancetypeRef refOf(const json& j) {
  return {j.value("name", ""), j.value("kind", ClusterInstancetypeKind)};
}

void putTime(json& j, const char* key, const std::optional<SystemTime>& t) {
  if (t)
    j[key] = kube::formatTime(*t);
}

std::optional<SystemTime> timeOf(const json& j, const char* key) {
  const std::string v = j.value(key, "");
  return v.empty() ? std::nullopt : kube::parseTime(v);
}

double number(const json& j, const char* key) {
  const json v = j.value(key, json());
  return v.is_number() ? v.get<double>() : 0;
}

// Three significant figures are what status readers need.
double rounded(double v) {
  if (!std::isfinite(v) || v == 0)
    return 0;
  const double scale = std::pow(10, 2 - std::floor(std::log10(std::fabs(v))));
  return std::round(v * scale) / scale;
}

}  // namespace

Result<TrialSpec> trialSpecFrom(const json& o) {
  const json spec = o.value("spec", json::object());
  TrialSpec s;
  s.target = spec.value("target", json::object()).value("name", "");
  if (s.target.empty())
    return fieldError(o, "spec.target.name", "is required");
  std::set<std::pair<std::string, std::string>> seen;
  const json candidates = spec.value("candidates", json::array());
  for (size_t i = 0; i < candidates.size(); ++i) {
    const std::string field = "spec.candidates[" + std::to_string(i) + "]";
    UMBRA_TRY(auto ref, refFrom(o, candidates[i], field));
    if (!seen.insert({ref.kind, ref.name}).second)
      return fieldError(o, field + ".name", "\"" + ref.name + "\" is listed twice");
    s.candidates.push_back(std::move(ref));
  }
  const json explore = spec.value("explore", json::object());
  s.neighbours = explore.value("neighbours", false);
  s.aroundCurrent = explore.value("aroundCurrent", false);
  if (s.candidates.empty() && !s.aroundCurrent)
    return fieldError(o, "spec.candidates",
                      "needs at least one instancetype unless spec.explore.aroundCurrent");
  UMBRA_TRY(s.maxCandidates,
            intAt(o, explore, "maxCandidates", "spec.explore.maxCandidates",
                  std::max<int>(s.maxCandidates, s.candidates.size() + (s.aroundCurrent ? 3 : 0)),
                  1, 20));
  if (s.maxCandidates < static_cast<int>(s.candidates.size()))
    return fieldError(o, "spec.explore.maxCandidates", "is below the number of spec.candidates");
  const json slo = spec.value("slo", json::object());
  UMBRA_TRY(const auto p95,
            durationAt(o, slo, "p95Latency", "spec.slo.p95Latency", std::chrono::milliseconds(0)));
  if (p95.count() <= 0)
    return fieldError(o, "spec.slo.p95Latency", "is required (e.g. 200ms)");
  s.p95LatencyMs = static_cast<double>(p95.count());
  const json mirroring = spec.value("mirroring", json::object());
  if (mirroring.contains("percentage")) {
    const json p = mirroring["percentage"];
    if (!p.is_number() || p.get<double>() <= 0 || p.get<double>() > 100)
      return fieldError(o, "spec.mirroring.percentage", "must be a number in (0, 100]");
    s.percentage = p.get<double>();
  }
  s.service = mirroring.value("service", "");
  UMBRA_TRY(s.duration, durationAt(o, spec.value("observation", json::object()), "duration",
                                   "spec.observation.duration", s.duration));
  UMBRA_TRY(s.maxConcurrentShadows,
            intAt(o, spec, "maxConcurrentShadows", "spec.maxConcurrentShadows",
                  s.maxConcurrentShadows, 1, 10));
  const std::string mode = spec.value("mode", "Recommend");
  if (mode != "Apply" && mode != "Recommend")
    return fieldError(o, "spec.mode", "\"" + mode + "\" is not Apply or Recommend");
  s.mode = mode == "Apply" ? Mode::Apply : Mode::Recommend;
  return s;
}

const TrialCandidate* TrialStatus::candidate(const std::string& name) const {
  for (const auto& c : candidates)
    if (c.ref.name == name)
      return &c;
  return nullptr;
}

std::string TrialStatus::conditionStatus(const std::string& type) const {
  return api::conditionStatus(conditions, type);
}

json toJson(const TrialStatus& s) {
  json j = json::object();
  if (s.observedGeneration)
    j["observedGeneration"] = *s.observedGeneration;
  if (!s.phase.empty())
    j["phase"] = s.phase;
  putTime(j, "startedAt", s.startedAt);
  putTime(j, "completedAt", s.completedAt);
  if (s.current)
    j["current"] = refJson(*s.current);
  json candidates = json::array();
  for (const auto& c : s.candidates) {
    json r = refJson(c.ref);
    r["state"] = c.state;
    if (!c.shadow.empty())
      r["shadow"] = c.shadow;
    putTime(r, "startedAt", c.startedAt);
    if (c.vcpus > 0) {
      r["vcpus"] = c.vcpus;
      r["memoryGiB"] = rounded(c.memoryGiB);
      r["costPerHour"] = rounded(c.costPerHour);
    }
    if (c.measured) {
      const TrialMeasurement& m = *c.measured;
      r["requestsPerSecond"] = rounded(m.requestsPerSecond);
      r["p50Ms"] = rounded(m.p50Ms);
      r["p95Ms"] = rounded(m.p95Ms);
      r["cpuPerRequestMs"] = rounded(m.cpuPerRequestMs);
      r["utilisation"] = rounded(m.utilisation);
      r["steal"] = rounded(m.steal);
      r["meetsSLO"] = c.meetsSlo;
    }
    if (c.extensions > 0)
      r["extensions"] = c.extensions;
    if (c.confidence)
      r["confidence"] = rounded(*c.confidence);
    if (c.explored)
      r["explored"] = true;
    if (!c.reason.empty())
      r["reason"] = c.reason;
    candidates.push_back(std::move(r));
  }
  j["candidates"] = candidates;
  if (s.recommendation) {
    json r = refJson(*s.recommendation);
    if (const TrialCandidate* c = s.candidate(s.recommendation->name))
      r["costPerHour"] = rounded(c->costPerHour);
    r["reason"] = s.recommendationReason;
    j["recommendation"] = r;
  }
  if (s.applied)
    j["applied"] = true;
  if (s.shadowCostPercent)
    j["shadowCostPercent"] = rounded(*s.shadowCostPercent);
  if (s.memoryInUseGiB)
    j["memoryInUseGiB"] = rounded(*s.memoryInUseGiB);
  json conditions = json::array();
  for (const auto& c : s.conditions)
    conditions.push_back(conditionJson(c));
  j["conditions"] = conditions;
  return j;
}

Result<TrialStatus> trialStatusFromJson(const json& j) {
  TrialStatus s;
  if (!j.is_object())
    return s;
  if (j.contains("observedGeneration") && j["observedGeneration"].is_number_integer())
    s.observedGeneration = j["observedGeneration"].get<int64_t>();
  s.phase = j.value("phase", "");
  s.startedAt = timeOf(j, "startedAt");
  s.completedAt = timeOf(j, "completedAt");
  if (j.contains("current") && j["current"].is_object())
    s.current = refOf(j["current"]);
  for (const auto& r : j.value("candidates", json::array())) {
    if (!r.is_object())
      return Error::make(ErrorKind::BadRequest, "status.candidates: an entry is not an object");
    TrialCandidate c;
    c.ref = refOf(r);
    c.state = r.value("state", candidate_state::Queued);
    c.shadow = r.value("shadow", "");
    c.startedAt = timeOf(r, "startedAt");
    c.vcpus = r.value("vcpus", 0);
    c.memoryGiB = number(r, "memoryGiB");
    c.costPerHour = number(r, "costPerHour");
    if (r.contains("p95Ms")) {
      c.measured = TrialMeasurement{
          number(r, "requestsPerSecond"), number(r, "p50Ms"),       number(r, "p95Ms"),
          number(r, "cpuPerRequestMs"),   number(r, "utilisation"), number(r, "steal")};
      c.meetsSlo = r.value("meetsSLO", false);
    }
    c.extensions = r.value("extensions", 0);
    if (r.contains("confidence") && r["confidence"].is_number())
      c.confidence = r["confidence"].get<double>();
    c.explored = r.value("explored", false);
    c.reason = r.value("reason", "");
    s.candidates.push_back(std::move(c));
  }
  if (j.contains("recommendation") && j["recommendation"].is_object()) {
    s.recommendation = refOf(j["recommendation"]);
    s.recommendationReason = j["recommendation"].value("reason", "");
  }
  s.applied = j.value("applied", false);
  if (j.contains("shadowCostPercent") && j["shadowCostPercent"].is_number())
    s.shadowCostPercent = j["shadowCostPercent"].get<double>();
  if (j.contains("memoryInUseGiB") && j["memoryInUseGiB"].is_number())
    s.memoryInUseGiB = j["memoryInUseGiB"].get<double>();
  for (const auto& c : j.value("conditions", json::array())) {
    UMBRA_TRY(auto cond, conditionFrom(c, "status.conditions"));
    s.conditions.push_back(std::move(cond));
  }
  return s;
}

}  // namespace umbra::api
