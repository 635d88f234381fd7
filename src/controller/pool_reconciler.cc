#include "controller/pool_reconciler.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "api/kubevirt_subresources.h"
#include "api/shadow_placement.h"
#include "common/log.h"
#include "common/overloaded.h"
#include "controller/object_fields.h"
#include "kube_core/quantity.h"
#include "kube_core/time.h"

namespace umbra::controller {

using kube::Json;
using runtime::Action;
using namespace fields;
using namespace pool_write;

namespace {

std::optional<SystemTime> timeOf(const Json& annotations, const char* key) {
  const std::string v = annotations.value(key, "");
  return v.empty() ? std::nullopt : kube::parseTime(v);
}

bool hasLabel(const Json& meta, const std::string& key, const std::string& value) {
  const Json labels = meta.value("labels", Json::object());
  return labels.contains(key) && labels[key] == value;
}

// vCPUs of a VMI (or template) domain.
int vcpusOf(const Json& domain) {
  const Json cpu = domain.value("cpu", Json::object());
  return std::max(1, intOf(cpu, "sockets", 1) * intOf(cpu, "cores", 1) * intOf(cpu, "threads", 1));
}

}  // namespace

std::string servingCpuQuery(const std::string& ns, const std::string& key, const std::string& value,
                            std::chrono::seconds rateWindow) {
  std::string label = "kubernetes_vmi_label_" + key;
  for (char& c : label)
    if (!std::isalnum(static_cast<unsigned char>(c)))
      c = '_';
  return "sum(rate(kubevirt_vmi_cpu_usage_seconds_total{namespace=\"" + ns + "\"," + label + "=\"" +
         value + "\"}[" + std::to_string(rateWindow.count()) + "s]))";
}

std::vector<std::string> poolsOfObject(const Json& o, const kube::Store& pools) {
  const Json& meta = o.at("metadata");
  const std::string ns = meta.value("namespace", "");
  std::vector<std::string> keys;
  // A LoadNotice (list items carry no kind): its spec.pool.
  if (o.value("spec", Json::object()).value("pool", Json()).is_string()) {
    keys.push_back(ns + "/" + o["spec"].value("pool", ""));
    return keys;
  }
  if (ns.empty()) {
    // A node: the pools whose reserved-host selector it matches and that have not reserved it yet
    // (nodes change at every heartbeat: the others need no pass for it).
    const Json labels = meta.value("labels", Json::object());
    for (const auto& p : pools.list()) {
      const Json selector =
          (*p)["spec"].value("reservedHosts", Json::object()).value("nodeSelector", Json::object());
      if (selector.empty())
        continue;
      bool match = true;
      for (const auto& [k, v] : selector.items())
        match = match && labels.contains(k) && labels[k] == v;
      const std::string reservedFor =
          (*p)["metadata"].value("namespace", "") + "." + (*p)["metadata"].value("name", "");
      if (match && labels.value(api::ReservedForLabel, "") != reservedFor)
        keys.push_back(kube::keyOf(*p));
    }
    return keys;
  }
  const Json labels = meta.value("labels", Json::object());
  if (const std::string pool = labels.value(api::ShadowPoolLabel, ""); !pool.empty())
    keys.push_back(ns + "/" + pool);
  for (const auto& p : pools.byNamespace(ns)) {
    const Json label = (*p)["spec"]["workload"].value("serviceLabel", Json::object());
    const std::string k = label.value("key", "");
    if (!k.empty() && labels.contains(k) && labels[k] == label.value("value", "") &&
        std::find(keys.begin(), keys.end(), kube::keyOf(*p)) == keys.end())
      keys.push_back(kube::keyOf(*p));
  }
  return keys;
}

PoolInput ShadowPoolReconciler::input(const Json& pool) {
  return readInput(pool, api::shadowPoolSpecFrom, api::shadowPoolStatusFromJson, "ShadowPool");
}

Result<PoolWorld> ShadowPoolReconciler::observe(const PoolInput& in) {
  PoolWorld w;
  if (!in.spec)
    return w;
  const api::ShadowPoolSpec& s = *in.spec;
  // The workload's template.
  if (!s.tmpl.is_null()) {
    w.shadowTemplate = s.tmpl;
  } else if (!d_.caches.vmPools) {
    w.workloadProblem =
        "pool.kubevirt.io/v1beta1 is not served: spec.workload.virtualMachinePool "
        "cannot be read";
  } else if (const kube::ObjectPtr vmPool =
                 d_.caches.vmPools->get(in.ns + "/" + s.virtualMachinePool);
             !vmPool) {
    w.workloadProblem = "VirtualMachinePool " + in.ns + "/" + s.virtualMachinePool + " not found";
  } else {
    w.shadowTemplate = (*vmPool)["spec"]
                           .value("virtualMachineTemplate", Json::object())
                           .value("spec", Json::object())
                           .value("template", Json::object());
    if (!w.shadowTemplate.value("spec", Json::object()).contains("domain"))
      w.workloadProblem = "VirtualMachinePool " + in.ns + "/" + s.virtualMachinePool +
                          " has no spec.virtualMachineTemplate.spec.template.spec.domain";
  }
  if (!w.workloadProblem.empty())
    return w;
  const Json domain = w.shadowTemplate["spec"]["domain"];
  const Json cpu = domain.value("cpu", Json::object());
  w.fullSockets = intOf(cpu, "sockets", 1);
  w.coresPerSocket = intOf(cpu, "cores", 1) * intOf(cpu, "threads", 1);
  w.fullGuest = bytesOf(domain.value("memory", Json::object()), "guest");
  if (w.fullGuest <= 0)
    w.fullGuest = bytesOf(
        domain.value("resources", Json::object()).value("requests", Json::object()), "memory");

  // The shadows.
  for (const auto& vm : d_.caches.vms.byNamespace(in.ns)) {
    const Json& meta = (*vm)["metadata"];
    if (!hasLabel(meta, api::ShadowPoolLabel, in.name) || !ownedBy(*vm, in.uid))
      continue;
    PoolShadow sh;
    sh.name = meta.value("name", "");
    sh.created = kube::parseTime(meta.value("creationTimestamp", ""));
    sh.deleting = meta.contains("deletionTimestamp");
    const Json spec = (*vm).value("spec", Json::object());
    sh.halted = spec.value("runStrategy", "") == "Halted";
    sh.stateActive = hasLabel(meta, api::ShadowStateLabel, "active");
    const Json annotations = meta.value("annotations", Json::object());
    sh.activationStarted = timeOf(annotations, api::ActivationStartedAnnotation);
    sh.servingSince = timeOf(annotations, api::ServingSinceAnnotation);
    sh.activationTrigger =
        std::atof(annotations.value(api::ActivationTriggerAnnotation, "0").c_str());
    sh.coldStart = annotations.value(api::ColdStartAnnotation, "") == "true";
    const bool templateServes =
        hasLabel(spec.value("template", Json::object()).value("metadata", Json::object()),
                 s.serviceKey, s.serviceValue);
    sh.serving = templateServes;
    if (const kube::ObjectPtr vmi = d_.caches.vmis.get(in.ns + "/" + sh.name);
        vmi && !(*vmi)["metadata"].contains("deletionTimestamp")) {
      sh.vmi = true;
      const Json st = (*vmi).value("status", Json::object());
      sh.running = st.value("phase", "") == "Running";
      sh.paused = conditionTrue(*vmi, "Paused");
      sh.serving = templateServes && hasLabel((*vmi)["metadata"], s.serviceKey, s.serviceValue);
      sh.node = st.value("nodeName", "");
      const Json vd = (*vmi)["spec"].value("domain", Json::object());
      sh.sockets =
          intOf(st.value("currentCPUTopology", vd.value("cpu", Json::object())), "sockets", 1);
      sh.guest = bytesOf(st.value("memory", Json::object()), "guestCurrent");
      if (sh.guest <= 0)
        sh.guest = bytesOf(vd.value("memory", Json::object()), "guest");
      const Json ms = st.value("migrationState", Json::object());
      if (ms.value("completed", false))
        sh.hotplugDone = kube::parseTime(ms.value("endTimestamp", ""));
    }
    w.shadows.push_back(std::move(sh));
  }
  std::sort(w.shadows.begin(), w.shadows.end(),
            [](const PoolShadow& a, const PoolShadow& b) { return a.name < b.name; });

  // The VMIs the Service selects.
  std::set<std::string> serving;
  for (const auto& vmi : d_.caches.vmis.byNamespace(in.ns)) {
    if (!hasLabel((*vmi)["metadata"], s.serviceKey, s.serviceValue) ||
        (*vmi)["metadata"].contains("deletionTimestamp") ||
        (*vmi).value("status", Json::object()).value("phase", "") != "Running")
      continue;
    serving.insert(kube::keyOf(*vmi));
    w.servingVmis += 1;
    w.servingVcpus += vcpusOf((*vmi)["spec"].value("domain", Json::object()));
  }

  // The trigger.
  if (!s.triggerQuery.empty()) {
    auto v = d_.query(s.triggerQuery);
    if (v.ok())
      w.trigger = *v;
    else
      w.triggerProblem = "spec.trigger.query: " + v.error().message;
  } else if (w.servingVcpus <= 0) {
    w.triggerProblem = "no running VMI carries " + s.serviceKey + "=" + s.serviceValue +
                       ": the default trigger (their CPU utilisation) has nothing to read";
  } else {
    auto used = d_.query(servingCpuQuery(in.ns, s.serviceKey, s.serviceValue, d_.rateWindow));
    if (used.ok())
      w.trigger = *used / w.servingVcpus;
    else
      w.triggerProblem = "Prometheus: " + used.error().message;
  }

  // The demand history of the serving VMIs.
  if (!serving.empty()) {
    const auto step = std::max(std::chrono::seconds(1),
                               std::chrono::duration_cast<std::chrono::seconds>(s.interval));
    auto frames =
        d_.demand.get(serving, step, std::chrono::duration_cast<std::chrono::seconds>(s.history));
    if (frames.ok())
      w.demand = sumDemand(*frames, 0).cpuCores;
    else
      w.demandProblem = "Prometheus: " + frames.error().message;
  }

  // Notices for this pool.
  for (const auto& n : d_.caches.notices.byNamespace(in.ns)) {
    if ((*n)["spec"].value("pool", "") != in.name)
      continue;
    NoticeView v;
    v.object = *n;
    auto spec = api::loadNoticeSpecFrom(*n);
    if (spec.ok())
      v.spec = std::move(spec).value();
    else
      v.error = spec.error().message;
    const Json st = (*n).value("status", Json::object());
    v.phase = st.value("phase", "");
    v.extraShadows = st.value("extraShadows", 0);
    w.notices.push_back(std::move(v));
  }

  // Reserved nodes.
  if (!s.reservedSelector.empty()) {
    const std::string value = in.ns + "." + in.name;
    for (const auto& node : d_.caches.nodes.list()) {
      const Json& meta = (*node)["metadata"];
      bool match = true;
      for (const auto& [k, v] : s.reservedSelector)
        match = match && hasLabel(meta, k, v);
      if (!match)
        continue;
      ReservedNode r;
      r.name = meta.value("name", "");
      r.resourceVersion = meta.value("resourceVersion", "");
      r.labelled = hasLabel(meta, api::ReservedForLabel, value);
      r.taints = (*node).value("spec", Json::object()).value("taints", Json::array());
      for (const auto& t : r.taints)
        r.tainted = r.tainted ||
                    (t.value("key", "") == api::ReservedTaintKey && t.value("value", "") == value);
      w.reserved.push_back(std::move(r));
    }
  }
  return w;
}

Result<Action> ShadowPoolReconciler::reconcile(const std::string& key) {
  const kube::ObjectPtr cached = d_.caches.pools.get(key);
  if (auto instead = gate_.admit(key, cached, d_.clock.now()))
    return *instead;
  const PoolInput in = input(*cached);
  UMBRA_TRY(const PoolWorld world, observe(in));
  const PoolPlan plan = planPool(in, world, d_.clock.wallNow());
  log::debug("pool pass planned",
             {{"pool", key}, {"why", plan.why}, {"writes", std::to_string(plan.writes.size())}});
  std::vector<std::string> replaced;
  Status st = execute(in, plan, replaced);
  gate_.replaced(key, replaced);
  if (!st.ok())
    return st.error();
  return plan.next;
}

}  // namespace umbra::controller
