#include "controller/rebalance_reconciler.h"

#include <algorithm>
#include <set>

#include "common/log.h"
#include "controller/object_fields.h"
#include "kube_core/time.h"
#include "placement/shadow.h"

namespace umbra::controller {

using kube::Json;
using runtime::Action;
using namespace fields;

namespace {

// `labels` carry every key and value of `matchLabels` (a policy's, a PodDisruptionBudget's); an
// empty selector selects nothing.
bool selects(const Json& labels, const Json& matchLabels) {
  if (!matchLabels.is_object() || matchLabels.empty())
    return false;
  for (const auto& [k, v] : matchLabels.items())
    if (!labels.contains(k) || labels[k] != v)
      return false;
  return true;
}

Json matchLabelsOf(const Json& policy) {
  return policy.value("spec", Json::object())
      .value("selector", Json::object())
      .value("matchLabels", Json::object());
}

double epochSeconds(SystemTime t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

std::optional<SystemTime> timeAt(const Json& o, const char* key) {
  const std::string v = o.value(key, "");
  return v.empty() ? std::nullopt : kube::parseTime(v);
}

}  // namespace

std::string hostUtilisationQuery(const std::string& nodeLabel, std::chrono::seconds w) {
  return "1 - avg by (" + nodeLabel + ") (rate(node_cpu_seconds_total{mode=\"idle\"}[" +
         std::to_string(w.count()) + "s]))";
}

std::string vmCpuQuery(const std::string& ns, std::chrono::seconds w) {
  return "sum by (name) (rate(kubevirt_vmi_cpu_usage_seconds_total{namespace=\"" + ns + "\"}[" +
         std::to_string(w.count()) + "s]))";
}

std::string probeLossQuery(const std::string& ns, std::chrono::seconds w) {
  const std::string win = "[" + std::to_string(w.count()) + "s]";
  const auto rate = [&](const char* metric, const char* kernel) {
    return std::string("sum by (name) (rate(") + metric + "{namespace=\"" + ns + "\",kernel=\"" +
           kernel + "\"}" + win + "))";
  };
  return "clamp_min(1 - (" + rate("umbra_probe_operations_total", "memory") + " / " +
         rate("umbra_probe_seconds_total", "memory") + ") / (" +
         rate("umbra_probe_operations_total", "alu") + " / " +
         rate("umbra_probe_seconds_total", "alu") + "), 0)";
}

std::vector<std::string> policiesOfObject(const Json& o, const kube::Store& policies) {
  const Json& meta = o.at("metadata");
  const std::string ns = meta.value("namespace", "");
  std::vector<std::string> keys;
  if (ns.empty())
    return keys;
  const Json labels = meta.value("labels", Json::object());
  const bool pdb = o.value("spec", Json::object()).contains("selector") &&
                   (o.value("spec", Json::object()).contains("minAvailable") ||
                    o.value("spec", Json::object()).contains("maxUnavailable"));
  for (const auto& p : policies.byNamespace(ns)) {
    const std::string name = (*p)["metadata"].value("name", "");
    const Json selector = matchLabelsOf(*p);
    if (pdb ||
        labels.value(api::RebalancePolicyLabel, "") == placement::placementLabelValue(name) ||
        selects(labels, selector) ||
        selects(o.value("spec", Json::object())
                    .value("template", Json::object())
                    .value("metadata", Json::object())
                    .value("labels", Json::object()),
                selector))
      keys.push_back(kube::keyOf(*p));
  }
  return keys;
}

RebalanceInput RebalancePolicyReconciler::input(const Json& policy) {
  return readInput(policy, api::rebalanceSpecFrom, api::rebalanceStatusFromJson, "RebalancePolicy");
}

Result<RebalanceWorld> RebalancePolicyReconciler::observe(const RebalanceInput& in) {
  RebalanceWorld w;
  if (!in.spec)
    return w;
  const Json selector = matchLabelsOf(in.object);  // checked non-empty by rebalanceSpecFrom
  const std::string policyLabel = placement::placementLabelValue(in.name);
  // Disruption budgets other than KubeVirt's own (one per VMI, which a migration does not
  // disrupt) that allow no disruption now.
  std::vector<std::pair<Json, std::string>> blocking;
  for (const auto& pdb : d_.caches.pdbs.byNamespace(in.ns)) {
    bool kubevirts = false;
    for (const auto& o : (*pdb)["metadata"].value("ownerReferences", Json::array()))
      kubevirts = kubevirts || o.value("kind", "") == "VirtualMachineInstance";
    const Json st = (*pdb).value("status", Json::object());
    if (!kubevirts && st.contains("disruptionsAllowed") && st.value("disruptionsAllowed", 1) <= 0)
      blocking.push_back({(*pdb)
                              .value("spec", Json::object())
                              .value("selector", Json::object())
                              .value("matchLabels", Json::object()),
                          (*pdb)["metadata"].value("name", "")});
  }
  for (const auto& vm : d_.caches.vms.byNamespace(in.ns)) {
    const Json& meta = (*vm)["metadata"];
    if (!selects(meta.value("labels", Json::object()), selector))
      continue;
    RebalanceVm v;
    v.vm.id = meta.value("name", "");
    v.vm.ns = in.ns;
    v.vm.evictionStrategy = (*vm)["spec"]
                                .value("template", Json::object())
                                .value("spec", Json::object())
                                .value("evictionStrategy", "");
    const kube::ObjectPtr vmi = d_.caches.vmis.get(in.ns + "/" + v.vm.id);
    if (vmi && !(*vmi)["metadata"].contains("deletionTimestamp")) {
      const Json st = (*vmi).value("status", Json::object());
      v.running = st.value("phase", "") == "Running";
      v.vm.host = v.running ? st.value("nodeName", "") : "";
      v.vmiSpec = (*vmi).value("spec", Json::object());
      const Json domain = v.vmiSpec.value("domain", Json::object());
      const Json cpu = domain.value("cpu", Json::object());
      v.vm.vcpus =
          std::max(1, intOf(cpu, "sockets", 1) * intOf(cpu, "cores", 1) * intOf(cpu, "threads", 1));
      v.vm.memoryBytes = bytesOf(domain.value("memory", Json::object()), "guest");
      if (v.vm.memoryBytes <= 0)
        v.vm.memoryBytes = bytesOf(
            domain.value("resources", Json::object()).value("requests", Json::object()), "memory");
      v.vm.evictionStrategy = v.vmiSpec.value("evictionStrategy", v.vm.evictionStrategy);
      const Json ms = st.value("migrationState", Json::object());
      // Its last migration, finished or failed (a failed one is not retried sooner either).
      if (const auto end = timeAt(ms, "endTimestamp");
          end && (ms.value("completed", false) || ms.value("failed", false)))
        v.vm.lastMovedAt = epochSeconds(*end);
      if (const std::string why = conditionMessage(*vmi, "LiveMigratable", "False"); !why.empty()) {
        v.vm.migratable = false;
        v.pinnedReason = "NotLiveMigratable";
        v.pinnedMessage = why;
      }
      const Json labels = (*vmi)["metadata"].value("labels", Json::object());
      for (const auto& [selector, name] : blocking) {
        if (selects(labels, selector) && v.pinnedReason.empty()) {
          v.vm.disruptionAllowed = false;
          v.pinnedReason = "DisruptionBudget";
          v.pinnedMessage = "PodDisruptionBudget " + name + " allows no disruption now";
        }
      }
    }
    if (v.pinnedReason.empty() &&
        (v.vm.evictionStrategy == "None" || v.vm.evictionStrategy == "External")) {
      v.pinnedReason = "EvictionStrategy";
      v.pinnedMessage = "its evictionStrategy is " + v.vm.evictionStrategy +
                        (v.vm.evictionStrategy == "None" ? " (its owner would rather it stopped)"
                                                         : " (another controller moves it)");
    }
    w.vms.push_back(std::move(v));
  }
  std::sort(w.vms.begin(), w.vms.end(),
            [](const RebalanceVm& a, const RebalanceVm& b) { return a.vm.id < b.vm.id; });

  // The migrations in the namespace (KubeVirt's budget counts them all), ours marked.
  std::set<std::string> seen;  // their names
  for (const auto& m : d_.caches.migrations.byNamespace(in.ns)) {
    const Json& meta = (*m)["metadata"];
    RebalanceMigration r;
    r.name = meta.value("name", "");
    r.vm = (*m)["spec"].value("vmiName", "");
    r.ours =
        meta.value("labels", Json::object()).value(api::RebalancePolicyLabel, "") == policyLabel &&
        ownedBy(*m, in.uid);
    const Json st = (*m).value("status", Json::object());
    r.phase = st.value("phase", "");
    const Json ms = st.value("migrationState", Json::object());
    r.from = ms.value("sourceNode", "");
    r.to = (*m)["spec"]
               .value("addedNodeSelector", Json::object())
               .value("kubernetes.io/hostname", ms.value("targetNode", ""));
    r.reason = meta.value("annotations", Json::object()).value(api::RebalanceReasonAnnotation, "");
    r.failure = ms.value("failureReason", conditionMessage(*m, "Failed", "True"));
    r.created = timeAt(meta, "creationTimestamp");
    for (const auto& t : st.value("phaseTransitionTimestamps", Json::array()))
      if (t.value("phase", "") == r.phase)
        r.finished = timeAt(t, "phaseTransitionTimestamp");
    if (!r.finished)
      r.finished = timeAt(ms, "endTimestamp");
    if (r.from.empty())
      for (const auto& v : w.vms)
        if (v.vm.id == r.vm)
          r.from = v.vm.host;
    seen.insert(r.name);
    w.migrations.push_back(std::move(r));
  }
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    const SteadyTime t = d_.clock.now();
    for (auto it = started_.begin(); it != started_.end();) {
      if (!it->first.starts_with(in.ns + "/")) {
        ++it;
        continue;
      }
      const std::string vm = it->first.substr(in.ns.size() + 1);
      if (seen.count(it->second.first) || t - it->second.second > std::chrono::minutes(1)) {
        it = started_.erase(it);
        continue;
      }
      RebalanceMigration r;
      r.name = it->second.first;
      r.vm = vm;
      r.ours = true;
      w.migrations.push_back(r);
      ++it;
    }
  }

  // The companions.
  for (const auto& vmi : d_.caches.vmis.byNamespace(in.ns)) {
    const Json& meta = (*vmi)["metadata"];
    const Json labels = meta.value("labels", Json::object());
    if (labels.value(api::RebalancePolicyLabel, "") != policyLabel ||
        !labels.contains(api::CompanionOfLabel) || !ownedBy(*vmi, in.uid))
      continue;
    RebalanceCompanion c;
    c.name = meta.value("name", "");
    c.node = (*vmi)["spec"]
                 .value("nodeSelector", Json::object())
                 .value("kubernetes.io/hostname",
                        (*vmi).value("status", Json::object()).value("nodeName", ""));
    c.deleting = meta.contains("deletionTimestamp");
    c.created = timeAt(meta, "creationTimestamp");
    for (const auto& v : w.vms)
      if (companionName(v.vm.id) == c.name)
        c.vm = v.vm.id;
    w.companions.push_back(std::move(c));
  }
  readHosts(in, w);
  return w;
}

Result<Action> RebalancePolicyReconciler::reconcile(const std::string& key) {
  const kube::ObjectPtr cached = d_.caches.policies.get(key);
  if (!cached) {
    const std::lock_guard<std::mutex> lock(mutex_);
    telemetry_.erase(key);
  }
  if (auto instead = gate_.admit(key, cached, d_.clock.now()))
    return *instead;
  const RebalanceInput in = input(*cached);
  UMBRA_TRY(const RebalanceWorld world, observe(in));
  const RebalancePlan plan = planRebalance(in, world, d_.clock.wallNow());
  log::debug("rebalance pass planned", {{"policy", key}, {"why", plan.why}});
  std::vector<std::string> replaced;
  Status st = execute(in, plan, replaced);
  gate_.replaced(key, replaced);
  if (!st.ok())
    return st.error();
  return plan.next;
}

}  // namespace umbra::controller
