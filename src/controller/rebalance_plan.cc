#include "controller/rebalance_plan.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "kube_core/time.h"
#include "placement/shadow.h"

namespace umbra::controller {

using kube::Json;
using runtime::EventType;
using namespace rebalance_write;
namespace cond = api::rebalance_condition;

namespace {

std::string decimal(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3f", v);
  return b;
}

double epochSeconds(SystemTime t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

Json ownerOf(const RebalanceInput& in) {
  return Json::array({{{"apiVersion", std::string(api::Group) + "/" + api::Version},
                       {"kind", "RebalancePolicy"},
                       {"name", in.name},
                       {"uid", in.uid},
                       {"controller", true},
                       {"blockOwnerDeletion", true}}});
}

Json labelsOf(const RebalanceInput& in, const std::string& vm) {
  return {{api::RebalancePolicyLabel, placement::placementLabelValue(in.name)},
          {api::RebalanceVmLabel, placement::placementLabelValue(vm)}};
}

Json migrationOf(const RebalanceInput& in, const rebalance::Move& m, SystemTime now) {
  return {{"apiVersion", "kubevirt.io/v1"},
          {"kind", "VirtualMachineInstanceMigration"},
          {"metadata",
           {{"name", rebalanceMigrationName(m.vm, now)},
            {"namespace", in.ns},
            {"labels", labelsOf(in, m.vm)},
            {"annotations", {{api::RebalanceReasonAnnotation, m.reason}}},
            {"ownerReferences", ownerOf(in)}}},
          {"spec", {{"vmiName", m.vm}, {"addedNodeSelector", {{"kubernetes.io/hostname", m.to}}}}}};
}

// The companion of `vm` on `node`: the placement shadow's build (its image, never its volumes; the
// probe for Synthetic; CPU limit and memory `share` of the VM's), named and labelled as a
// companion and owned by the policy.
Json companionOf(const RebalanceInput& in, const RebalanceVm& vm, const std::string& node) {
  const api::RebalanceSpec& s = *in.spec;
  api::PlacementSettings settings;
  settings.cpuFraction = s.companionShare;
  settings.memoryFraction = s.companionShare;
  settings.fidelity = s.companionFidelity;
  settings.load.cpuPercent = s.companionCpuPercent;
  Json vmi = placement::buildShadowVmi(in.object, vm.vmiSpec, node, settings, {});
  Json labels = labelsOf(in, vm.vm.id);
  labels[api::RoleLabel] = "shadow";
  labels[api::CompanionOfLabel] = placement::placementLabelValue(vm.vm.id);
  labels[api::ShadowNodeLabel] = node;
  vmi["metadata"] = {{"name", companionName(vm.vm.id)},
                     {"namespace", in.ns},
                     {"labels", labels},
                     {"ownerReferences", ownerOf(in)}};
  return vmi;
}

std::string hostsSummary(const std::vector<rebalance::Host>& hosts,
                         const std::set<std::string>& names) {
  std::string out;
  for (const auto& h : hosts)
    if (names.count(h.name))
      out += (out.empty() ? "" : ", ") + h.name;
  return out;
}

}  // namespace

std::string rebalanceMigrationName(const std::string& vm, SystemTime now) {
  const auto minute =
      std::chrono::duration_cast<std::chrono::minutes>(now.time_since_epoch()).count();
  return placement::placementLabelValue(vm + "-rebalance-" + std::to_string(minute));
}

std::string companionName(const std::string& vm) {
  return placement::placementLabelValue(vm + "-companion");
}

RebalancePlan planRebalance(const RebalanceInput& in, const RebalanceWorld& w, SystemTime now) {
  RebalancePlan p;
  api::RebalanceStatus st = in.status;
  st.observedGeneration = in.generation;
  const Json previous = in.status.report;
  st.report = Json::object();
  const auto event = [&](EventType type, const std::string& reason, const std::string& action,
                         const std::string& note) {
    p.writes.push_back(PostEvent{type, reason, action, note});
  };
  if (!in.spec) {
    // Said once per error: the passes the VMs' changes cause say it again only in the status.
    const bool said = std::any_of(
        in.status.conditions.begin(), in.status.conditions.end(), [&](const api::Condition& c) {
          return c.type == cond::Ready && c.reason == "InvalidSpec" && c.message == in.specError;
        });
    setCondition(st.conditions, cond::Ready, false, "InvalidSpec", in.specError, in.generation,
                 now);
    p.writes.push_back(WriteStatus{st});
    if (!said)
      event(EventType::Warning, "InvalidSpec", "Validate", in.specError);
    p.why = "invalid spec";
    return p;
  }
  const api::RebalanceSpec& s = *in.spec;
  const bool apply = s.mode == api::Mode::Apply;
  const double nowS = epochSeconds(now);

  // The VMs: which are moving, when each last moved, which stay in place.
  std::vector<rebalance::Vm> vms;
  Json pinned = Json::array();
  std::map<std::string, const RebalanceVm*> byName;
  for (const RebalanceVm& v : w.vms) {
    byName[v.vm.id] = &v;
    if (!v.pinnedReason.empty())
      pinned.push_back({{"vm", v.vm.id}, {"reason", v.pinnedReason}, {"message", v.pinnedMessage}});
    if (!v.running || v.vm.host.empty())
      continue;
    rebalance::Vm vm = v.vm;
    vm.ns = in.ns;
    for (const RebalanceMigration& m : w.migrations) {
      if (m.vm != vm.id)
        continue;
      if (!m.finishedPhase())
        vm.moving = true;
      else if (m.ours && m.finished)  // a failed attempt waits the interval too
        vm.lastMovedAt = std::max(vm.lastMovedAt, epochSeconds(*m.finished));
    }
    vms.push_back(std::move(vm));
  }
  const Json oldPinned = previous.value("pinned", Json::array());
  for (const Json& v : pinned)
    if (std::none_of(oldPinned.begin(), oldPinned.end(),
                     [&](const Json& o) { return o.value("vm", "") == v.value("vm", ""); }))
      event(EventType::Warning, v.value("reason", ""), "Pin",
            v.value("vm", "") + " stays where it is: " + v.value("message", ""));
  {
    std::string names;
    for (const Json& v : pinned)
      names += (names.empty() ? "" : "; ") + v.value("vm", "") + ": " + v.value("message", "");
    setCondition(st.conditions, cond::VMsPinned, !pinned.empty(),
                 pinned.empty() ? "AllMovable" : pinned[0].value("reason", "Pinned"),
                 pinned.empty() ? "every selected VM may be live-migrated" : names, in.generation,
                 now);
  }

  // What is in flight, and the outcomes not reported yet (oldest first, so the newest ends first).
  rebalance::InFlight inFlight;
  std::map<std::string, int> outbound;
  int ours = 0;
  Json moves = Json::array();
  std::vector<const RebalanceMigration*> finished;
  // Posted after the status that records them, so that a pass killed between the two repeats
  // the Event rather than losing it.
  std::vector<RebalanceWrite> outcomeEvents;
  for (const RebalanceMigration& m : w.migrations) {
    if (m.finishedPhase()) {
      if (m.ours && !in.status.reported(m.name))
        finished.push_back(&m);
      continue;
    }
    inFlight.cluster += 1;
    if (!m.from.empty())
      outbound[m.from] += 1;
    if (!m.ours)
      continue;
    ours += 1;
    const auto vm = byName.find(m.vm);
    inFlight.moves.push_back(
        {m.vm, m.from, m.to, m.reason, vm == byName.end() ? 0.0 : vm->second->vm.usageP90});
    moves.push_back({{"vm", m.vm},
                     {"from", m.from},
                     {"to", m.to},
                     {"migration", m.name},
                     {"phase", m.phase.empty() ? "Pending" : m.phase},
                     {"reason", m.reason}});
    if (m.created)
      moves.back()["since"] = kube::formatTime(*m.created);
  }
  inFlight.perNamespace = {{in.ns, ours}};
  for (const auto& [node, n] : outbound)
    inFlight.outboundPerHost.push_back({node, n});
  std::sort(finished.begin(), finished.end(), [](const auto* a, const auto* b) {
    return a->finished.value_or(SystemTime{}) < b->finished.value_or(SystemTime{});
  });
  for (const RebalanceMigration* m : finished) {
    Json o = {{"vm", m->vm},          {"from", m->from},   {"to", m->to},
              {"migration", m->name}, {"phase", m->phase}, {"reason", m->failure}};
    if (m->finished)
      o["finished"] = kube::formatTime(*m->finished);
    st.outcomes.insert(st.outcomes.begin(), o);
    if (m->phase == "Succeeded")
      outcomeEvents.push_back(
          PostEvent{EventType::Normal, "Migrated", "Migrate",
                    m->vm + " moved from " + m->from + " to " + m->to + " (" + m->name + ")"});
    else
      outcomeEvents.push_back(
          PostEvent{EventType::Warning, "MigrationFailed", "Migrate",
                    m->vm + " did not move from " + m->from + " to " + m->to + " (" + m->name +
                        "): " + (m->failure.empty() ? "no reason given" : m->failure)});
  }
  if (st.outcomes.size() > api::RebalanceStatus::MaxOutcomes)
    st.outcomes.erase(st.outcomes.begin() + api::RebalanceStatus::MaxOutcomes, st.outcomes.end());

  // The decision.
  const rebalance::UmbraOptions options{s.target, s.headroom, 1.0};
  rebalance::Budget budget;
  budget.cluster = ClusterMigrations;
  budget.perNamespace = s.maxInFlight;
  budget.outboundPerHost = OutboundMigrationsPerNode;
  budget.minIntervalSeconds = std::chrono::duration<double>(s.minInterval).count();
  std::set<std::string> vmHosts, overloaded;
  for (const auto& v : vms)
    vmHosts.insert(v.host);
  Json hosts = Json::array();
  for (const auto& h : w.hosts) {
    const bool over = h.sustained >= s.target && h.forecast >= s.target;
    if (over && vmHosts.count(h.name))
      overloaded.insert(h.name);
    Json j = {{"node", h.name},
              {"utilisation", decimal(h.utilisation)},
              {"sustained", decimal(h.sustained)},
              {"forecastP50", decimal(h.forecast)},
              {"forecastP90", decimal(h.forecastP90)},
              {"overloaded", over}};
    if (h.interference >= 0)
      j["interference"] = decimal(h.interference);
    hosts.push_back(j);
  }
  std::vector<rebalance::Move> planned;
  if (w.metricsProblem.empty())
    planned = rebalance::planUmbra(w.hosts, vms, options, budget, inFlight, nowS);
  const Json oldMoves = previous.value("moves", Json::array());
  for (const rebalance::Move& m : planned) {
    const std::string note = m.vm + ": " + m.from + " -> " + m.to + ": " + m.reason;
    if (apply) {
      p.writes.push_back(CreateMigration{migrationOf(in, m, now), m.vm});
      event(EventType::Normal, "Migrating", "Migrate", note);
      moves.push_back({{"vm", m.vm},
                       {"from", m.from},
                       {"to", m.to},
                       {"migration", rebalanceMigrationName(m.vm, now)},
                       {"phase", "Pending"},
                       {"since", kube::formatTime(now)},
                       {"reason", m.reason}});
      ours += 1;
      continue;
    }
    const bool known = std::any_of(oldMoves.begin(), oldMoves.end(), [&](const Json& o) {
      return o.value("vm", "") == m.vm && o.value("to", "") == m.to;
    });
    if (!known)
      event(EventType::Normal, "RecommendMigration", "Recommend", note);
    moves.push_back({{"vm", m.vm},
                     {"from", m.from},
                     {"to", m.to},
                     {"phase", "Recommended"},
                     {"since", kube::formatTime(now)},
                     {"reason", m.reason}});
  }

  // The companions: one per running selected VM, on another host with spare capacity.
  int companions = 0;
  {
    std::set<std::string> have;
    std::vector<rebalance::Companion> placing;
    std::map<std::string, const RebalanceVm*> missing;
    for (const RebalanceCompanion& c : w.companions) {
      const auto vm = byName.find(c.vm);
      const bool wanted =
          s.companions && vm != byName.end() && vm->second->running && !vm->second->vm.host.empty();
      if (c.deleting) {
        have.insert(c.vm);  // re-created once it is gone
        continue;
      }
      if (!wanted) {
        p.writes.push_back(DeleteCompanion{c.name});
        continue;
      }
      have.insert(c.vm);
      companions += 1;
      const rebalance::Vm& v = vm->second->vm;
      placing.push_back({c.name, v.host, c.node, v.vcpus * s.companionShare,
                         v.memoryBytes * s.companionShare,
                         c.created ? epochSeconds(*c.created) : -1e300});
    }
    for (const RebalanceVm& v : w.vms) {
      if (!s.companions || !v.running || v.vm.host.empty() || have.count(v.vm.id))
        continue;
      const std::string name = companionName(v.vm.id);
      missing[name] = &v;
      // Placed as if beside its VM: planCompanions moves it to the best other host.
      placing.push_back({name, v.vm.host, v.vm.host, v.vm.vcpus * s.companionShare,
                         v.vm.memoryBytes * s.companionShare, -1e300});
    }
    if (w.metricsProblem.empty() && !placing.empty()) {
      for (const rebalance::Move& m :
           rebalance::planCompanions(w.hosts, placing, options, budget, nowS)) {
        if (const auto it = missing.find(m.vm); it != missing.end()) {
          p.writes.push_back(CreateCompanion{companionOf(in, *it->second, m.to)});
          companions += 1;
        } else {
          p.writes.push_back(DeleteCompanion{m.vm});
          event(EventType::Normal, "CompanionMoved", "Move",
                m.vm + " re-created off " + m.from + " (" + m.reason + ")");
        }
      }
    }
  }

  // The status.
  st.report["vms"] = static_cast<int>(w.vms.size());
  st.report["overloaded"] = static_cast<int>(overloaded.size());
  st.report["moving"] = static_cast<int>(moves.size());
  st.report["companions"] = companions;
  st.report["pinnedCount"] = static_cast<int>(pinned.size());
  st.report["lastDecision"] = kube::formatTime(now);
  st.report["hosts"] = hosts;
  st.report["moves"] = moves;
  st.report["pinned"] = pinned;
  if (!st.outcomes.empty()) {
    const Json& o = st.outcomes[0];
    st.report["lastOutcome"] = {{"summary", o.value("vm", "") + " " + o.value("from", "") + "->" +
                                                o.value("to", "") + " " + o.value("phase", "")}};
  }
  setCondition(st.conditions, cond::MetricsAvailable, w.metricsProblem.empty(),
               w.metricsProblem.empty() ? "Read" : "PrometheusUnavailable",
               w.metricsProblem.empty() ? "the hosts' CPU utilisation and forecasts are current"
                                        : w.metricsProblem,
               in.generation, now);
  if (w.metricsProblem.empty())
    setCondition(st.conditions, cond::Ready, true, "Deciding",
                 overloaded.empty() ? "no host of a selected VM is under sustained load"
                                    : "under sustained load: " + hostsSummary(w.hosts, overloaded),
                 in.generation, now);
  else
    setCondition(st.conditions, cond::Ready, false, "MetricsUnavailable",
                 "no moves without the hosts' telemetry: " + w.metricsProblem, in.generation, now);
  p.writes.push_back(WriteStatus{st});
  for (auto& e : outcomeEvents)
    p.writes.push_back(std::move(e));
  p.next = runtime::Action::after(s.interval);
  p.why = std::to_string(planned.size()) + " move(s) planned, " + std::to_string(ours) +
          " in flight, " + std::to_string(overloaded.size()) + " host(s) overloaded";
  return p;
}

}  // namespace umbra::controller
