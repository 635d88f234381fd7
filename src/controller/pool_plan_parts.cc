#include "controller/pool_plan_parts.h"

#include "controller/pool_plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "kube_core/quantity.h"
#include "kube_core/time.h"
#include "scaling/engine.h"

namespace umbra::controller::pool_parts {

using kube::Json;

namespace {
constexpr double MemoryStep = 128 * 1024.0 * 1024;  // guest memory in 128Mi steps
}  // namespace

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3g", v);
  return b;
}
double seconds(Duration d) {
  return std::chrono::duration<double>(d).count();
}

Phase phaseOf(const PoolShadow& s, api::DormantState dormant) {
  if (s.activationStarted)
    return s.stateActive && s.serving && s.running && !s.paused && s.servingSince
               ? Phase::Active
               : Phase::Activating;
  if (s.stateActive && s.serving && s.running && !s.paused)
    return Phase::Active;  // a cold start: created serving
  if (dormant == api::DormantState::Paused)
    return s.running && s.paused ? Phase::Dormant : Phase::Creating;
  return s.halted && !s.vmi ? Phase::Dormant : Phase::Creating;
}

const char* toString(Phase p) {
  switch (p) {
    case Phase::Creating: return "Creating";
    case Phase::Dormant: return "Dormant";
    case Phase::Activating: return "Activating";
    case Phase::Active: return "Active";
  }
  return "";
}

// The dormant shadow's size: a share of the workload's, at least 1 socket and 1Gi (KubeVirt
// hotplugs memory from 1Gi).
int baselineSockets(const api::ShadowPoolSpec& s, const PoolWorld& w) {
  return std::max(1, static_cast<int>(std::floor(w.fullSockets * s.baselinePercent / 100.0)));
}
double baselineGuest(const api::ShadowPoolSpec& s, const PoolWorld& w) {
  if (w.fullGuest <= 0)
    return 0;
  const double v = std::floor(w.fullGuest * s.baselinePercent / 100.0 / MemoryStep) * MemoryStep;
  return std::min(w.fullGuest, std::max(GiB, v));
}

// The VirtualMachine of a new shadow: the workload's template without the Service's label, at the
// baseline size, on (and tolerating) the reserved hosts, owned by the pool, halted.
Json shadowVm(const PoolInput& in, const PoolWorld& w, const std::string& name, bool serving) {
  const api::ShadowPoolSpec& s = *in.spec;
  Json tmpl = w.shadowTemplate;
  Json labels = tmpl.value("metadata", Json::object()).value("labels", Json::object());
  labels.erase(s.serviceKey);
  labels[api::ShadowPoolLabel] = in.name;
  if (serving)
    labels[s.serviceKey] = s.serviceValue;
  tmpl["metadata"]["labels"] = labels;
  tmpl["metadata"].erase("creationTimestamp");
  Json& domain = tmpl["spec"]["domain"];
  if (!serving && s.baselinePercent < 100) {
    domain["cpu"]["sockets"] = baselineSockets(s, w);
    domain["cpu"]["maxSockets"] = w.fullSockets;
    if (const double g = baselineGuest(s, w); g > 0 && g < w.fullGuest) {
      domain["memory"]["guest"] = kube::formatMebibytes(g);
      domain["memory"]["maxGuest"] = kube::formatMebibytes(w.fullGuest);
    }
  }
  if (!s.reservedSelector.empty()) {
    for (const auto& [k, v] : s.reservedSelector)
      tmpl["spec"]["nodeSelector"][k] = v;
    Json tolerations = tmpl["spec"].value("tolerations", Json::array());
    tolerations.push_back({{"key", api::ReservedTaintKey},
                           {"operator", "Equal"},
                           {"value", in.ns + "." + in.name},
                           {"effect", "NoSchedule"}});
    tmpl["spec"]["tolerations"] = tolerations;
  }
  Json vmLabels = {{api::ShadowPoolLabel, in.name},
                   {api::ShadowStateLabel, serving ? "active" : "dormant"}};
  return {{"apiVersion", "kubevirt.io/v1"},
          {"kind", "VirtualMachine"},
          {"metadata",
           {{"name", name},
            {"namespace", in.ns},
            {"labels", vmLabels},
            {"ownerReferences", Json::array({{{"apiVersion", "umbra.io/v1alpha1"},
                                              {"kind", "ShadowPool"},
                                              {"name", in.name},
                                              {"uid", in.uid},
                                              {"controller", true},
                                              {"blockOwnerDeletion", true}}})}}},
          {"spec", {{"runStrategy", serving ? "Always" : "Halted"}, {"template", tmpl}}}};
}

Prediction predict(const api::ShadowPoolSpec& s, const PoolWorld& w) {
  Prediction p;
  if (w.demand.empty())
    return p;
  p.p50 = p.p90 = w.demand.back();
  p.model = "last value";
  if (w.demand.size() < scaling::MinForecastSteps)
    return p;
  scaling::PassInput in;
  in.demand = w.demand;
  in.stepSeconds = static_cast<double>(s.interval.count()) / 1000;
  const double top = std::max(1.0, *std::max_element(w.demand.begin(), w.demand.end()));
  in.upper = 2 * std::max(top, w.servingVcpus);
  in.resource = {1, 0, in.upper, 0, 0};
  in.policy.leadSteps = s.horizonSteps();
  in.allocation = w.servingVcpus;
  const scaling::PassResult r = scaling::runPass(in);
  if (!r.forecasted || r.forecast.p90.empty())
    return p;
  p.p50 = *std::max_element(r.forecast.p50.begin(), r.forecast.p50.end());
  p.p90 = *std::max_element(r.forecast.p90.begin(), r.forecast.p90.end());
  p.model = r.model;
  p.forecast = true;
  return p;
}

// A notice's phase at `now`: Scheduled before its lead time, Active until its end, then Expired.
std::string noticePhase(const api::LoadNoticeSpec& n, SystemTime now) {
  if (now >= n.end)
    return "Expired";
  if (now >= n.start - n.leadTime)
    return "Active";
  return "Scheduled";
}

void recordLastActivation(const PoolInput& in, const PoolWorld& w, api::ShadowPoolStatus& st) {
  const api::ShadowPoolSpec& spec = *in.spec;
  // The last activation, from its shadow's marks: the newest mark, unless an older one shows again
  // after a newer one was cleared (a deactivation), which was recorded and counted already.
  const PoolShadow* newest = nullptr;
  for (const auto& sh : w.shadows)
    if (sh.activationStarted && (!newest || *sh.activationStarted > *newest->activationStarted))
      newest = &sh;
  const std::optional<SystemTime> recorded =
      kube::parseTime(in.status.lastActivation.value("time", ""));
  if (newest && (!recorded || *newest->activationStarted >= *recorded)) {
    Json last = {{"time", kube::formatMicroTime(*newest->activationStarted)},
                 {"shadow", newest->name},
                 {"triggerValue", num(newest->activationTrigger)}};
    std::string summary = newest->name;
    if (newest->servingSince) {
      const double serving =
          std::max(0.0, seconds(*newest->servingSince - *newest->activationStarted));
      last["timeToServingSeconds"] = num(serving);
      summary += " serving in " + num(serving) + " s";
      const bool full = spec.baselinePercent >= 100 || newest->sockets >= w.fullSockets;
      if (full) {
        const std::optional<SystemTime> at =
            spec.baselinePercent >= 100 ? newest->servingSince : newest->hotplugDone;
        if (at) {
          const double capacity = std::max(serving, seconds(*at - *newest->activationStarted));
          last["timeToCapacitySeconds"] = num(capacity);
          summary += ", full capacity in " + num(capacity) + " s";
        }
      }
      // Counted once, when its serving time is first known (a pass killed mid-activation leaves
      // the count to the pass that finishes it): an activation and the cold start it saved, or a
      // cold start.
      if (in.status.lastActivation.value("time", "") != last["time"] ||
          !in.status.lastActivation.contains("timeToServingSeconds")) {
        if (newest->coldStart) {
          st.coldStarts += 1;
        } else {
          st.activations += 1;
          st.coldStartSecondsAvoided += std::max(0.0, ColdStartSeconds - serving);
        }
      }
    } else {
      summary += " activating";
    }
    last["summary"] = summary;
    st.lastActivation = last;
  }
}

Json shadowsReport(const PoolWorld& w, api::DormantState dormant) {
  Json shadows = Json::array();
  for (const auto& sh : w.shadows) {
    Json e = {{"name", sh.name},
              {"state", sh.deleting ? "Deleting" : toString(phaseOf(sh, dormant))}};
    if (!sh.node.empty())
      e["node"] = sh.node;
    shadows.push_back(e);
  }
  return shadows;
}

void addMeasures(Json& report, const PoolInput& in, const PoolWorld& w, const Prediction& pred,
                 const api::ShadowPoolStatus& st, SystemTime now) {
  const api::ShadowPoolSpec& s = *in.spec;
  if (w.trigger)
    report["trigger"] = {{"time", kube::formatTime(now)},
                         {"value", num(*w.trigger)},
                         {"threshold", num(s.threshold)},
                         {"summary", num(*w.trigger) + "/" + num(s.threshold)}};
  if (!w.demand.empty())
    report["predicted"] = {{"horizon", kube::formatDuration(s.horizon)},
                           {"model", pred.model},
                           {"p50", num(pred.p50)},
                           {"p90", num(pred.p90)},
                           {"summary", num(pred.p50) + "/" + num(pred.p90) + " vCPUs"}};
  char cost[160];
  std::snprintf(cost, sizeof cost, "%.2f GiB-h paused, %.2f node-h reserved, %d activations",
                st.pausedMemoryGiBHours, st.reservedNodeHours, st.activations);
  report["cost"] = {{"summary", cost}};
}

}  // namespace umbra::controller::pool_parts
