#include "controller/scaler_plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "kube_core/quantity.h"
#include "scaling/engine.h"

namespace umbra::controller {

using kube::Json;
using runtime::Action;
using runtime::EventType;
namespace cond = api::scaler_condition;

namespace {

constexpr double Mi = 1024.0 * 1024;
constexpr double MemoryStep = 128 * Mi;  // guest memory changes in 128Mi (a multiple of 2Mi)

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3g", v);
  return b;
}
std::string mem(double bytes) {
  return kube::formatMebibytes(bytes);
}
std::string plural(double v, const char* unit) {
  return num(v) + " " + unit + (std::abs(v - 1) < 1e-9 ? "" : "s");
}
std::string durationText(std::chrono::milliseconds d) {
  return kube::formatDuration(d);
}

// The policy as the spec sets it, for a resource whose most is `max` units.
scaling::PolicyOptions policyOf(const api::ScalerSpec& s, const api::ScalerStatus& st, double max,
                                bool cutsRestart) {
  scaling::PolicyOptions o;
  const double step = static_cast<double>(s.interval.count());
  o.targetUtilisation = s.targetUtilization / 100.0;
  o.leadSteps = s.leadSteps();
  o.targetUnderShare = s.underProvisionedPercent / 100.0;
  o.initialMultiple = st.headroomMultiple.value_or(1.0);
  o.downWindowSteps = std::max(
      1, static_cast<int>(std::ceil(static_cast<double>(s.stabilizationWindow.count()) / step)));
  o.cutsRestart = cutsRestart;
  o.restartCutWindowSteps = std::max(1, static_cast<int>(std::ceil(6 * 3600e3 / step)));
  o.aggressiveFactor = s.aggressivePercent / 100.0;
  o.holdSteps = s.holdSteps;
  o.anomaly.consecutiveSteps = s.anomalySteps;
  o.anomaly.minExcess = s.minExcessPercent / 100.0 * max;
  // What is measured is what was served: a VM at its allocation may want more.
  o.saturatedShare = 0.98;
  return o;
}

scaling::PassResult pass(const api::ScalerSpec& s, const ScalerWorld& w,
                         const scaling::PolicyOptions& o, const std::vector<double>& demand,
                         const scaling::Resource& r, double allocation) {
  scaling::PassInput in;
  in.network = w.network.get();
  in.networkHorizon = w.networkHorizon;
  in.networkName = w.networkName;
  in.demand = demand;
  in.stepSeconds = static_cast<double>(s.interval.count()) / 1000;
  in.upper = r.max;
  in.resource = r;
  in.policy = o;
  in.allocation = allocation;
  return scaling::runPass(in);
}

double highest(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::max_element(v.begin(), v.end());
}

}  // namespace

ScalerPlan planScaler(const ScalerInput& in, const ScalerWorld& w, SystemTime now) {
  ScalerPlan p;
  api::ScalerStatus st = in.status;
  st.observedGeneration = in.generation;
  const auto set = [&](const char* type, bool value, const std::string& reason,
                       const std::string& message) {
    api::setCondition(st.conditions, type, value, reason, message, in.generation, now);
  };
  const auto event = [&](EventType type, std::string reason, std::string action, std::string note) {
    p.writes.push_back(
        scaler_write::PostEvent{type, std::move(reason), std::move(action), std::move(note)});
  };
  // Writes the status when it changed; Events go after it.
  const auto finish = [&](Action next, std::string why) {
    std::vector<ScalerWrite> events;
    std::erase_if(p.writes, [&](const ScalerWrite& x) {
      if (std::holds_alternative<scaler_write::PostEvent>(x)) {
        events.push_back(x);
        return true;
      }
      return false;
    });
    if (!(st == in.status))
      p.writes.push_back(scaler_write::WriteStatus{st});
    p.writes.insert(p.writes.end(), events.begin(), events.end());
    p.next = next;
    p.why = std::move(why);
    return p;
  };
  // A Warning Event the first time Ready turns False for this reason.
  const auto notReady = [&](const std::string& reason, const std::string& message) {
    const bool was = in.status.conditionStatus(cond::Ready) == "False";
    std::string before;
    for (const auto& c : in.status.conditions)
      if (c.type == cond::Ready)
        before = c.reason;
    set(cond::Ready, false, reason, message);
    if (!was || before != reason)
      event(EventType::Warning, reason, "Scale", message);
  };

  if (!in.spec) {
    notReady("InvalidSpec", in.specError);
    return finish(Action::awaitChange(), "invalid spec");
  }
  const api::ScalerSpec& s = *in.spec;
  const Action again = Action::after(std::chrono::duration_cast<Duration>(s.interval));
  const bool vmTarget = s.kind == api::ScaleTargetKind::VirtualMachine;
  const std::string targetText =
      std::string(api::toString(s.kind)) + " " + in.ns + "/" + s.targetName;
  if ((vmTarget && !w.vm.exists) || (!vmTarget && !w.pool.exists)) {
    notReady("TargetNotFound",
             w.targetProblem.empty() ? targetText + " does not exist" : w.targetProblem);
    return finish(again, "no target");
  }
  if (!w.metricsProblem.empty()) {
    set(cond::MetricsAvailable, false, "NoMetrics", w.metricsProblem);
    set(cond::ScalingActive, false, "NoMetrics", "no demand to decide on");
    if (st.conditionStatus(cond::Ready) != "True")
      set(cond::Ready, true, "TargetFound", targetText);
    return finish(again, "no metrics");
  }
  set(cond::MetricsAvailable, true,
      w.presentSteps >= scaling::MinForecastSteps ? "DemandRead" : "Learning",
      w.presentSteps >= scaling::MinForecastSteps
          ? std::to_string(w.presentSteps) + " steps of demand over " + durationText(s.history)
          : std::to_string(w.presentSteps) + " of the " +
                std::to_string(scaling::MinForecastSteps) +
                " steps a forecast needs; until then the newest demand is followed");
  const bool apply = s.mode == api::Mode::Apply;
  const std::string horizon = durationText(s.interval * s.leadSteps());
  Json forecast = {{"horizon", horizon}};
  Json demand = Json::object();
  Json recommendation = Json::object();
  std::string actionReason, actionFrom, actionTo, action;
  std::string inactiveReason, inactiveMessage;  // ScalingActive=False: why a change waits
  scaling::PassResult shown;  // the pass whose pattern and anomaly the status shows

  if (vmTarget) {
    const VmTarget& vm = w.vm;
    if (!vm.running) {
      set(cond::Ready, true, "TargetFound", targetText + " (not running)");
      set(cond::ScalingActive, false, "TargetNotRunning",
          "the VM has no running VMI; sizes are hotplugged into a running VM only");
      return finish(again, "target not running");
    }
    std::vector<std::string> problems;
    const bool cpuOk = s.sockets && vm.maxSockets > 0;
    const bool memOk = s.memory && vm.maxGuest > 0 && vm.notMigratable.empty();
    if (s.sockets && vm.maxSockets == 0)
      problems.push_back(
          "the VMI has no maxSockets: its vCPUs cannot be hotplugged (LiveUpdate "
          "off, or arm64)");
    if (s.memory && vm.maxGuest == 0)
      problems.push_back(
          "the VMI has no maxGuest: its memory cannot be hotplugged (guest under "
          "1Gi or not a multiple of 2Mi, or LiveUpdate off)");
    else if (s.memory && !vm.notMigratable.empty())
      problems.push_back("memory hotplug needs a live-migratable VMI: " + vm.notMigratable);
    if (!cpuOk && !memOk) {
      notReady("CannotHotplug", problems.empty() ? "nothing to scale" : problems.front());
      set(cond::ScalingActive, false, "CannotHotplug", "see Ready");
      return finish(again, "cannot hotplug");
    }
    std::string readyMessage = targetText;
    if (cpuOk && s.sockets->max > vm.maxSockets)
      problems.push_back("spec.vertical.cpu.maxSockets " + num(s.sockets->max) +
                         " is above the VMI's maxSockets " + std::to_string(vm.maxSockets) +
                         "; scaling within " + std::to_string(vm.maxSockets));
    if (memOk && s.memory->max > vm.maxGuest)
      problems.push_back("spec.vertical.memory.max is above the VMI's maxGuest " +
                         mem(vm.maxGuest) + "; scaling within it");
    for (const auto& x : problems)
      readyMessage += "; " + x;
    set(cond::Ready, true, problems.empty() ? "TargetFound" : "BoundsLimitedByTarget",
        readyMessage);

    // One change at a time: a hotplug KubeVirt has not made effective yet, or a migration.
    const bool pending = vm.hotplugPending || vm.migrating ||
                         (vm.restartRequired.empty() &&
                          (vm.sockets != vm.vmiSockets ||
                           (vm.guest > 0 && vm.vmiGuest > 0 && vm.guest != vm.vmiGuest)));
    int wantSockets = vm.sockets;
    double wantGuest = vm.guest;
    std::optional<scaling::PassResult> cpu, memory;
    if (cpuOk) {
      const int cps = std::max(vm.coresPerSocket, 1);
      const double maxSockets = std::min<double>(s.sockets->max, vm.maxSockets);
      const scaling::Resource r{static_cast<double>(cps), s.sockets->min * cps,
                                std::max(s.sockets->min, maxSockets) * cps, 0, 0};
      cpu = pass(s, w, policyOf(s, in.status, r.max, true), w.cpuCores, r,
                 static_cast<double>(vm.sockets * cps));
      wantSockets = static_cast<int>(std::lround(cpu->wanted / cps));
      forecast["cpuCoresP50"] = num(highest(cpu->forecast.p50));
      forecast["cpuCoresP90"] = num(highest(cpu->forecast.p90));
      demand["cpuCores"] = num(w.cpuCores.empty() ? 0 : w.cpuCores.back());
      recommendation["sockets"] = wantSockets;
      st.headroomMultiple = cpu->decision.multiple;
      shown = *cpu;
    }
    if (memOk) {
      const double lo = std::max(s.memory->min, vm.guestAtBoot);
      const double hi = std::max(lo, std::min(s.memory->max, vm.maxGuest));
      const scaling::Resource r{MemoryStep, std::ceil(lo / MemoryStep) * MemoryStep,
                                std::floor(hi / MemoryStep) * MemoryStep, 0, 0};
      memory = pass(s, w, policyOf(s, in.status, r.max, false), w.memoryBytes, r,
                    vm.guest > 0 ? vm.guest : vm.vmiGuest);
      wantGuest = memory->wanted;
      forecast["memoryP50"] = mem(highest(memory->forecast.p50));
      forecast["memoryP90"] = mem(highest(memory->forecast.p90));
      demand["memory"] = mem(w.memoryBytes.empty() ? 0 : w.memoryBytes.back());
      recommendation["memory"] = mem(wantGuest);
      if (!cpu) {
        st.headroomMultiple = memory->decision.multiple;
        shown = *memory;
      }
    }
    st.current = {{"sockets", vm.sockets},
                  {"memory", mem(vm.guest > 0 ? vm.guest : vm.vmiGuest)},
                  {"summary", plural(vm.sockets, "socket") + ", " +
                                  mem(vm.guest > 0 ? vm.guest : vm.vmiGuest)}};
    recommendation["summary"] = plural(wantSockets, "socket") + ", " + mem(wantGuest);
    // CPU first; a cut of vCPUs needs a restart, which Umbra recommends and never does itself.
    Json patch;
    if (cpu && wantSockets > vm.sockets) {
      patch = {{"spec",
                {{"template", {{"spec", {{"domain", {{"cpu", {{"sockets", wantSockets}}}}}}}}}}}};
      action = "ScaleUp";
      actionFrom = plural(vm.sockets, "socket");
      actionTo = plural(wantSockets, "socket");
      actionReason = cpu->decision.reason;
    } else if (memory && std::abs(wantGuest - vm.guest) >= MemoryStep / 2 && vm.guest > 0) {
      patch = {
          {"spec",
           {{"template", {{"spec", {{"domain", {{"memory", {{"guest", mem(wantGuest)}}}}}}}}}}}};
      action = wantGuest > vm.guest ? "ScaleUp" : "ScaleDown";
      actionFrom = mem(vm.guest);
      actionTo = mem(wantGuest);
      actionReason = memory->decision.reason;
    }
    recommendation["reason"] =
        cpu && wantSockets < vm.sockets
            ? "fewer vCPUs need a restart (KubeVirt cannot unplug them): restart the VM with " +
                  plural(wantSockets, "socket") + " to apply"
            : (action.empty() ? "the current size covers the forecast" : actionReason);
    st.recommendation = recommendation;
    if (!action.empty() && apply && pending) {
      inactiveReason = "HotplugPending";
      inactiveMessage =
          "waiting for KubeVirt to make the last change effective (one hotplug at "
          "a time) before " +
          action + " " + actionFrom + " -> " + actionTo;
      action.clear();
    } else if (!action.empty() && apply) {
      p.writes.push_back(scaler_write::PatchVirtualMachine{patch});
    }
  } else {
    const PoolTarget& pool = w.pool;
    set(cond::Ready, true, "TargetFound", targetText);
    const double vcpus = std::max(pool.vcpusPerVm, 1e-9);
    std::vector<double> replicas;
    for (const double c : w.cpuCores)
      replicas.push_back(c / vcpus);
    const scaling::Resource r{1, s.replicas->min, s.replicas->max, 0, 0};
    const auto result =
        pass(s, w, policyOf(s, in.status, r.max, false), replicas, r, pool.replicas);
    const int want = static_cast<int>(std::lround(result.wanted));
    forecast["replicasP50"] = num(highest(result.forecast.p50));
    forecast["replicasP90"] = num(highest(result.forecast.p90));
    demand["cpuCores"] = num(w.cpuCores.empty() ? 0 : w.cpuCores.back());
    demand["replicas"] = num(replicas.empty() ? 0 : replicas.back());
    st.headroomMultiple = result.decision.multiple;
    shown = result;
    st.current = {{"replicas", pool.replicas},
                  {"summary", plural(pool.replicas, "replica") + " (" +
                                  std::to_string(pool.readyReplicas) + " ready)"}};
    st.recommendation = {{"replicas", want},
                         {"reason", want == pool.replicas ? "the current size covers the forecast"
                                                          : result.decision.reason},
                         {"summary", plural(want, "replica")}};
    if (want != pool.replicas) {
      action = want > pool.replicas ? "ScaleUp" : "ScaleDown";
      actionFrom = plural(pool.replicas, "replica");
      actionTo = plural(want, "replica");
      actionReason = result.decision.reason;
    }
    if (!action.empty() && apply && pool.paused) {
      inactiveReason = "PoolPaused";
      inactiveMessage = "the pool is paused (spec.paused); wanted " + actionTo;
      action.clear();
    } else if (!action.empty() && apply) {
      p.writes.push_back(scaler_write::ScalePool{want});
    }
  }

  // The report blocks.
  forecast["model"] = shown.forecasted ? shown.model : "none yet: " + shown.decision.reason;
  std::string summary;
  if (forecast.contains("cpuCoresP50"))
    summary = forecast["cpuCoresP50"].get<std::string>() + "/" +
              forecast["cpuCoresP90"].get<std::string>() + " cores";
  if (forecast.contains("memoryP50"))
    summary += (summary.empty() ? "" : ", ") + forecast["memoryP50"].get<std::string>() + "/" +
               forecast["memoryP90"].get<std::string>();
  if (forecast.contains("replicasP50"))
    summary = forecast["replicasP50"].get<std::string>() + "/" +
              forecast["replicasP90"].get<std::string>() + " replicas";
  forecast["summary"] = shown.forecasted
                            ? summary + " in " + horizon
                            : "learning (" + std::to_string(w.presentSteps) + " of " +
                                  std::to_string(scaling::MinForecastSteps) + " passes)";
  st.forecast = forecast;
  st.demand = demand;
  Json periods = Json::array();
  for (const auto& x : shown.periods)
    periods.push_back(
        {{"period", x.seconds >= 7 * 86400 ? "168h" : "24h"}, {"strength", num(x.strength)}});
  st.pattern = {{"periods", periods}};
  // Surges.
  const auto& d = shown.decision;
  if (d.anomaly.started) {
    st.lastAnomalyTime = api::wholeSeconds(now);
    st.lastAnomaly = {
        {"bandWidths", num(d.anomaly.bandWidths)},
        {"message", "demand " + num(d.anomaly.bandWidths) + " band widths above the forecast for " +
                        std::to_string(s.anomalySteps) + " step(s)"}};
    event(EventType::Normal, "SurgeDetected", "Scale",
          "demand above the forecast's band (" + num(d.anomaly.bandWidths) +
              " band widths): aggressive strategy, at least " +
              std::to_string(s.aggressivePercent) + " % of the newest demand");
  }
  set(cond::AnomalyDetected, d.aggressive, d.aggressive ? "SurgeDetected" : "NoSurge",
      d.aggressive ? d.reason : "demand within the forecast's band");

  if (!action.empty()) {
    if (apply) {
      st.lastActionTime = api::wholeSeconds(now);
      st.lastActionTo = actionTo;
      st.lastAction = {{"action", action},
                       {"from", actionFrom},
                       {"reason", actionReason},
                       {"summary", action + " " + actionFrom + " -> " + actionTo}};
      set(cond::ScalingActive, true, "Scaling", action + " " + actionFrom + " -> " + actionTo);
      event(EventType::Normal, action == "ScaleUp" ? "ScaledUp" : "ScaledDown", "Scale",
            actionFrom + " -> " + actionTo + ": " + actionReason + "; forecast " + summary +
                " in " + horizon);
    } else {
      set(cond::ScalingActive, true, "Recommending",
          "Recommend mode: " + actionFrom + " -> " + actionTo);
      if (in.status.recommendation.value("summary", "") != st.recommendation.value("summary", ""))
        event(EventType::Normal, "Recommended", "Scale",
              actionFrom + " -> " + actionTo + ": " + actionReason +
                  " (Recommend mode: not applied)");
    }
  } else if (!inactiveReason.empty()) {
    set(cond::ScalingActive, false, inactiveReason, inactiveMessage);
  } else {
    set(cond::ScalingActive, true, apply ? "Scaling" : "Recommending",
        "the current size covers the forecast");
  }
  return finish(again, action.empty() ? "no change" : action + " " + actionTo);
}

}  // namespace umbra::controller
