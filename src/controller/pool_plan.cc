#include "controller/pool_plan.h"

#include "controller/pool_plan_parts.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "kube_core/quantity.h"
#include "kube_core/time.h"
#include "scaling/engine.h"
#include "scaling/pattern.h"

namespace umbra::controller {

using kube::Json;
using runtime::Action;
using runtime::EventType;
namespace cond = api::pool_condition;
using namespace pool_write;

using namespace pool_parts;

std::string shadowName(const std::string& pool, int index) {
  return pool + "-shadow-" + std::to_string(index);
}

PoolPlan planPool(const PoolInput& in, const PoolWorld& w, SystemTime now) {
  PoolPlan plan;
  api::ShadowPoolStatus st = in.status;
  const auto postEvent = [&](EventType t, const std::string& reason, const std::string& action,
                             const std::string& note) {
    plan.writes.push_back(PostEvent{t, reason, action, note});
  };
  const auto finish = [&](Action next) {
    st.observedGeneration = in.generation;
    if (!(st == in.status))
      plan.writes.push_back(WriteStatus{st});
    plan.next = next;
  };
  if (!in.spec) {
    api::setCondition(st.conditions, cond::Ready, false, "InvalidSpec", in.specError, in.generation,
                      now);
    if (in.status.conditionStatus(cond::Ready) != "False" ||
        in.status.observedGeneration != in.generation)
      postEvent(EventType::Warning, "InvalidSpec", "Validate", in.specError);
    plan.why = "invalid spec";
    finish(Action::awaitChange());
    return plan;
  }
  const api::ShadowPoolSpec& s = *in.spec;
  const auto interval = std::chrono::duration_cast<Duration>(s.interval);
  if (!w.workloadProblem.empty()) {
    api::setCondition(st.conditions, cond::Ready, false, "WorkloadNotFound", w.workloadProblem,
                      in.generation, now);
    plan.why = w.workloadProblem;
    finish(Action::after(interval));
    return plan;
  }

  // Reserved hosts: labelled and tainted for this pool.
  const std::string reservedValue = in.ns + "." + in.name;
  if (!s.reservedSelector.empty()) {
    for (const auto& n : w.reserved) {
      if (n.labelled && n.tainted)
        continue;
      Json taints = n.taints;
      if (!n.tainted)
        taints.push_back(
            {{"key", api::ReservedTaintKey}, {"value", reservedValue}, {"effect", "NoSchedule"}});
      plan.writes.push_back(
          ReserveNode{n.name, n.resourceVersion, {{api::ReservedForLabel, reservedValue}}, taints});
      postEvent(EventType::Normal, "HostReserved", "Reserve",
                "node " + n.name + " labelled " + api::ReservedForLabel + "=" + reservedValue +
                    " and tainted " + api::ReservedTaintKey + "=" + reservedValue + ":NoSchedule");
    }
    if (w.reserved.empty())
      api::setCondition(st.conditions, cond::ReservedHostsReady, false, "NoNodeMatches",
                        "no node matches spec.reservedHosts.nodeSelector", in.generation, now);
    else
      api::setCondition(st.conditions, cond::ReservedHostsReady, true, "Reserved",
                        std::to_string(w.reserved.size()) + " node(s) reserved", in.generation,
                        now);
  }

  // The shadows by phase.
  std::vector<const PoolShadow*> dormant, creating, activating, active;
  std::set<std::string> names;
  for (const auto& sh : w.shadows) {
    names.insert(sh.name);
    if (sh.deleting)
      continue;
    switch (phaseOf(sh, s.dormant)) {
      case Phase::Dormant: dormant.push_back(&sh); break;
      case Phase::Creating: creating.push_back(&sh); break;
      case Phase::Activating: activating.push_back(&sh); break;
      case Phase::Active: active.push_back(&sh); break;
    }
  }
  const int live =
      static_cast<int>(dormant.size() + creating.size() + activating.size() + active.size());

  // The trigger and the forecast.
  const bool utilisation = s.triggerQuery.empty();
  if (w.trigger)
    api::setCondition(st.conditions, cond::MetricsAvailable, true, "TriggerRead",
                      "trigger " + num(*w.trigger) + " (threshold " + num(s.threshold) + ")",
                      in.generation, now);
  else
    api::setCondition(st.conditions, cond::MetricsAvailable, false, "TriggerUnavailable",
                      w.triggerProblem, in.generation, now);
  const Prediction pred = predict(s, w);
  const double target = utilisation ? std::max(0.05, s.threshold) : DefaultUtilisation;
  const double perShadow = std::max(1, w.fullSockets * w.coresPerSocket);

  // Notices active now: the demand they announce.
  double announced = 0;
  std::string announcedBy;
  Json noticeReport = Json::array();
  std::vector<std::pair<const NoticeView*, std::string>> noticePhases;
  for (const auto& n : w.notices) {
    const std::string phase = n.spec ? noticePhase(*n.spec, now) : "Invalid";
    noticePhases.emplace_back(&n, phase);
    if (phase != "Active")
      continue;
    const double base = std::max(pred.p50, w.demand.empty() ? 0.0 : w.demand.back());
    const double load = n.spec->multiplier ? *n.spec->multiplier * base : *n.spec->vcpus;
    if (load > announced) {
      announced = load;
      announcedBy = n.spec->name + " (" + n.spec->reason + ")";
    }
  }

  // The reserve: enough dormant shadows that the capacity serving now, plus them, covers the
  // forecast's p90 (or an announced load) at the target utilisation; at least minShadows.
  const double expected = std::max(pred.p90, announced);
  const double deficit = expected / target - w.servingVcpus;
  // And enough for a sudden rise the level forecast does not see: the 99th percentile of the
  // history's rises over a cold start's time (a minute), which a refill could not follow.
  const size_t riseLag = static_cast<size_t>(std::max<int64_t>(
      1, (60000 + s.interval.count() - 1) / std::max<int64_t>(1, s.interval.count())));
  const double rise = scaling::riseQuantile(w.demand, riseLag, 0.99) / target;
  const int riseShadows = static_cast<int>(std::ceil(rise / perShadow - 1e-9));
  const int forecastShadows = std::max(
      deficit > 0 ? static_cast<int>(std::ceil(deficit / perShadow - 1e-9)) : 0, riseShadows);
  const int room = std::max(0, s.maxShadows - static_cast<int>(active.size() + activating.size()));
  const int reserve = std::min(room, std::max(s.minShadows, forecastShadows));
  std::string reserveWhy =
      forecastShadows <= s.minShadows ? "spec.minShadows"
      : rise > deficit
          ? "the history's sudden rises (99th percentile " + num(rise) +
                " vCPUs within a minute at " + num(target * 100) + " % utilisation)"
          : "the " +
                std::string(announced > pred.p90
                                ? "announced load " + num(announced) + " vCPUs of " + announcedBy
                                : "forecast's p90 " + num(pred.p90) + " vCPUs") +
                " at " + num(target * 100) + " % utilisation needs " + num(deficit) +
                " vCPUs more than the " + num(w.servingVcpus) + " serving";
  if (reserve < std::max(s.minShadows, forecastShadows))
    reserveWhy += "; capped by spec.maxShadows";

  // Activation: resume those in progress, else start a round when the trigger fires.
  const auto activate = [&](const PoolShadow& sh, bool fresh) {
    if (fresh)
      plan.writes.push_back(MarkActivation{sh.name, now, w.trigger.value_or(0)});
    bool runs = sh.running && !sh.paused;
    if (s.dormant == api::DormantState::Paused && sh.running && sh.paused) {
      plan.writes.push_back(UnpauseShadow{sh.name});
      runs = true;  // unpause is synchronous: the guest runs when it returns
    } else if (!sh.vmi && sh.halted) {
      plan.writes.push_back(StartShadow{sh.name, false});
    }
    if (!sh.serving || !sh.stateActive || (runs && !sh.servingSince)) {
      plan.writes.push_back(ServeShadow{sh.name, true, runs && !sh.servingSince});
      if (runs && !sh.servingSince)
        postEvent(EventType::Normal, "Activated", "Activate",
                  sh.name + " serves: the Service's label " + s.serviceKey + "=" + s.serviceValue +
                      " is on its VMI" +
                      (s.dormant == api::DormantState::Paused ? ", unpaused" : ""));
    }
    if (s.baselinePercent < 100 && sh.sockets > 0 && sh.sockets < w.fullSockets)
      plan.writes.push_back(ResizeShadow{
          sh.name, w.fullSockets, w.fullGuest > 0 ? kube::formatMebibytes(w.fullGuest) : ""});
  };
  const bool fired = w.trigger && *w.trigger >= s.threshold;
  bool activatedNow = false;
  for (const PoolShadow* sh : activating)
    activate(*sh, false);
  std::optional<SystemTime> lastServing;
  for (const PoolShadow* sh : active)
    if (sh->servingSince && (!lastServing || *sh->servingSince > *lastServing))
      lastServing = sh->servingSince;
  // One round at a time, and one interval after the last to see its effect on the trigger.
  const bool settled = activating.empty() && (!lastServing || now - *lastServing >= interval);
  // One round: as many shadows as the missing capacity needs. Utilisation saturates at 1, so the
  // trigger alone understates it (at most 1/threshold of what serves); the round also covers the
  // history's sudden rise and the forecast's deficit. The next round waits for these to serve and
  // an interval, to see their effect.
  int activatedCount = 0, coldCount = 0;
  if (fired && settled) {
    int round = 1;
    if (utilisation)
      round = std::max(
          round, static_cast<int>(std::ceil(
                     (*w.trigger * w.servingVcpus / target - w.servingVcpus) / perShadow - 1e-9)));
    // A round that follows the last one while the trigger still fires (within a few intervals of
    // it) doubles it: the trigger, saturated, cannot say how much more is missing.
    if (st.lastRoundAt && now - *st.lastRoundAt <= 4 * interval + std::chrono::seconds(60))
      round = std::max(round, 2 * st.lastRoundSize);
    round = std::max({round, riseShadows,
                      deficit > 0 ? static_cast<int>(std::ceil(deficit / perShadow - 1e-9)) : 0});
    std::string names_;
    for (const PoolShadow* sh : dormant) {
      if (activatedCount >= round)
        break;
      activate(*sh, true);
      names_ += (names_.empty() ? "" : ", ") + sh->name;
      ++activatedCount;
    }
    activatedNow = activatedCount > 0;
    if (activatedNow)
      postEvent(EventType::Normal, "Activating", "Activate",
                "trigger " + num(*w.trigger) + " >= " + num(s.threshold) + ": activating " +
                    std::string(s.dormant == api::DormantState::Paused ? "paused" : "halted") +
                    " shadow(s) " + names_ + " (" + std::to_string(round) + " wanted)");
    st.lastRoundAt = now;
    st.lastRoundSize = round;
    // No dormant shadow left for the rest: cold starts, as far as maxShadows allows.
    for (int left = round - activatedCount; left > 0 && live + coldCount < s.maxShadows; --left) {
      int index = 0;
      while (names.count(shadowName(in.name, index)))
        ++index;
      const std::string name = shadowName(in.name, index);
      names.insert(name);
      Json vm = shadowVm(in, w, name, true);
      vm["metadata"]["annotations"] = {
          {api::ActivationStartedAnnotation, kube::formatMicroTime(now)},
          {api::ActivationTriggerAnnotation, num(w.trigger.value_or(0))},
          {api::ColdStartAnnotation, "true"}};
      plan.writes.push_back(CreateShadow{vm});
      ++coldCount;
      postEvent(EventType::Warning, "NoShadowLeft", "ColdStart",
                "trigger " + num(*w.trigger) + " >= " + num(s.threshold) +
                    " and no dormant shadow left: cold-starting " + name);
    }
    if (activatedCount + coldCount < round)
      postEvent(EventType::Warning, "NoShadowLeft", "Activate",
                "trigger " + num(*w.trigger) + " >= " + num(s.threshold) + ": " +
                    std::to_string(round - activatedCount - coldCount) +
                    " more wanted, but the pool is at spec.maxShadows (" +
                    std::to_string(s.maxShadows) + ")");
  }

  // Refill: dormant shadows (and those on their way) up to the reserve.
  int waiting = static_cast<int>(dormant.size() + creating.size()) - activatedCount;
  for (const PoolShadow* sh : creating) {
    if (s.dormant != api::DormantState::Paused)
      continue;
    // A paused shadow whose VM was created but not started (a restart in between) ...
    if (sh->halted && !sh->vmi)
      plan.writes.push_back(StartShadow{sh->name, true});
    // ... or one that stopped serving but was not paused again.
    if (sh->running && !sh->paused && !sh->serving)
      plan.writes.push_back(PauseShadow{sh->name});
  }
  int total = live + coldCount;
  for (int i = 0; waiting < reserve && total < s.maxShadows; ++i) {
    int index = 0;
    while (names.count(shadowName(in.name, index)))
      ++index;
    const std::string name = shadowName(in.name, index);
    names.insert(name);
    plan.writes.push_back(CreateShadow{shadowVm(in, w, name, false)});
    if (s.dormant == api::DormantState::Paused)
      plan.writes.push_back(StartShadow{name, true});
    postEvent(EventType::Normal, "ShadowCreated", "Create",
              name + " created " +
                  (s.dormant == api::DormantState::Paused ? "and started paused" : "halted") +
                  " (reserve " + std::to_string(reserve) + ": " + reserveWhy + ")");
    ++waiting;
    ++total;
  }

  // Decommission: an active shadow goes back to dormant once the trigger has stayed below half
  // its threshold for idleAfter; dormant shadows above the reserve go after idleAfter.
  const auto idleAfter = std::chrono::duration_cast<Duration>(s.idleAfter);
  const bool low = w.trigger && *w.trigger < s.threshold / 2;
  if (!low)
    st.lowSince.reset();
  else if (!st.lowSince)
    st.lowSince = now;
  if (low && st.lowSince && now - *st.lowSince >= idleAfter && !active.empty() && !activatedNow) {
    const PoolShadow& sh = *active.back();
    // The marks first (a restart must not resume the activation), then the traffic, then pause.
    plan.writes.push_back(MarkActivation{sh.name, now, 0, true});
    plan.writes.push_back(ServeShadow{sh.name, false});
    if (s.dormant == api::DormantState::Paused)
      plan.writes.push_back(PauseShadow{sh.name});
    else
      plan.writes.push_back(DeleteShadow{sh.name});
    postEvent(EventType::Normal, "Deactivated", "Decommission",
              "trigger below " + num(s.threshold / 2) + " for " +
                  kube::formatDuration(s.idleAfter) + ": " + sh.name +
                  (s.dormant == api::DormantState::Paused ? " stops serving and is paused again"
                                                          : " stops serving and is deleted"));
    st.lowSince = now;  // one per idleAfter
  }
  const int surplus = static_cast<int>(dormant.size()) - activatedCount - reserve;
  if (surplus <= 0)
    st.surplusSince.reset();
  else if (!st.surplusSince)
    st.surplusSince = now;
  if (surplus > 0 && st.surplusSince && now - *st.surplusSince >= idleAfter) {
    const PoolShadow& sh = *dormant.back();
    plan.writes.push_back(DeleteShadow{sh.name});
    postEvent(EventType::Normal, "ShadowDecommissioned", "Decommission",
              sh.name + " deleted: " + std::to_string(surplus) +
                  " dormant shadow(s) above the reserve of " + std::to_string(reserve) + " for " +
                  kube::formatDuration(s.idleAfter));
    st.surplusSince = now;
  }

  // Cost since the last pass: paused memory held, reserved nodes.
  if (st.costUpdated && now > *st.costUpdated) {
    const double hours = seconds(now - *st.costUpdated) / 3600;
    if (s.dormant == api::DormantState::Paused) {
      double held = 0;
      for (const PoolShadow* sh : dormant)
        held += sh->guest > 0 ? sh->guest : baselineGuest(s, w);
      st.pausedMemoryGiBHours += held / GiB * hours;
    }
    st.reservedNodeHours += static_cast<double>(w.reserved.size()) * hours;
  }
  st.costUpdated = now;

  recordLastActivation(in, w, st);

  // The report.
  for (const auto& [n, phase] : noticePhases) {
    Json e = {{"name", n->object["metadata"].value("name", "")}, {"phase", phase}};
    if (phase == "Active")
      e["extraShadows"] = std::max(0, forecastShadows - s.minShadows);
    noticeReport.push_back(e);
  }
  Json report = {{"dormant", static_cast<int>(dormant.size())},
                 {"activating", static_cast<int>(activating.size())},
                 {"active", static_cast<int>(active.size())},
                 {"shadows", shadowsReport(w, s.dormant)},
                 {"reserve", {{"shadows", reserve}, {"reason", reserveWhy}}},
                 {"notices", noticeReport}};
  addMeasures(report, in, w, pred, st, now);
  st.report = report;
  const int holding = static_cast<int>(dormant.size()) - activatedCount;
  if (holding >= reserve)
    api::setCondition(st.conditions, cond::Ready, true, "ReserveHeld",
                      std::to_string(holding) + " dormant shadow(s) held (reserve " +
                          std::to_string(reserve) + ")",
                      in.generation, now);
  else
    api::setCondition(st.conditions, cond::Ready, false, "Filling",
                      std::to_string(holding) + " of " + std::to_string(reserve) +
                          " dormant shadow(s) ready (" + std::to_string(creating.size()) +
                          " on their way)",
                      in.generation, now);

  // Notices' statuses.
  for (const auto& [n, phase] : noticePhases) {
    const int extra = phase == "Active" ? std::max(0, forecastShadows - s.minShadows) : 0;
    if (n->phase == phase && n->extraShadows == extra)
      continue;
    std::string message =
        n->spec
            ? (phase == "Active"
                   ? "applied: the reserve covers " + num(announced) + " vCPUs expected"
               : phase == "Scheduled"
                   ? "the pool grows from " + kube::formatTime(n->spec->start - n->spec->leadTime)
                   : "the window has ended")
            : n->error;
    plan.writes.push_back(
        WriteNoticeStatus{n->object["metadata"].value("name", ""),
                          {{"observedGeneration", n->object["metadata"].value("generation", 0)},
                           {"phase", phase},
                           {"extraShadows", extra},
                           {"message", message}}});
    if (phase == "Active" && n->spec)
      postEvent(EventType::Normal, "NoticeApplied", "Reserve",
                "LoadNotice " + n->spec->name + " (" + n->spec->reason + "): reserve " +
                    std::to_string(reserve) + " for " + num(announced) + " vCPUs expected");
  }
  plan.why = std::to_string(dormant.size()) + " dormant, " + std::to_string(active.size()) +
             " active, reserve " + std::to_string(reserve);
  // Sooner while an activation runs or shadows are on their way.
  const bool busy = activatedNow || !activating.empty() || !creating.empty();
  finish(Action::after(busy ? std::min(interval, Duration(std::chrono::seconds(2))) : interval));
  return plan;
}

}  // namespace umbra::controller
