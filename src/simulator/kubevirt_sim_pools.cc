// The VirtualMachinePool controller's part of the simulator (KubeVirt v1.9.0; API-NOTES.md
// section 11): VMs from the pool's template, named <pool>-<n> with the lowest unused n, owned by
// the pool (controller ownerReference, finalizer pool.kubevirt.io/finalizer, revision label);
// scale-in removes VMs; status.replicas / readyReplicas / labelSelector for the scale
// subresource. A new VM cold-starts as any other (the simulator's boot delay).
#include <algorithm>
#include <set>

#include "common/log.h"
#include "simulator/kubevirt_sim.h"
#include "simulator/kubevirt_sim_internal.h"
#include "simulator/workloads.h"

namespace umbra::simulator {

using kube::Json;
using namespace sim_detail;

namespace {

constexpr const char* PoolFinalizer = "pool.kubevirt.io/finalizer";
constexpr const char* RevisionLabel = "kubevirt.io/vm-pool-revision-name";

bool ownedBy(const Json& o, const std::string& uid) {
  for (const auto& r : o["metadata"].value("ownerReferences", Json::array()))
    if (r.value("uid", "") == uid && r.value("controller", false))
      return true;
  return false;
}

// "k=v,k2=v2" of matchLabels (matchExpressions are not simulated: such a pool is refused).
std::string selectorText(const Json& selector, std::string& unsupported) {
  if (selector.contains("matchExpressions") && !selector["matchExpressions"].empty())
    unsupported = "spec.selector.matchExpressions is not simulated";
  std::string out;
  const Json labels = selector.value("matchLabels", Json::object());
  for (const auto& [k, v] : labels.items())
    out += (out.empty() ? "" : ",") + k + "=" + (v.is_string() ? v.get<std::string>() : "");
  return out;
}

// The VM index of "<pool>-<n>", or -1.
int indexOf(const std::string& vm, const std::string& pool) {
  if (!vm.starts_with(pool + "-"))
    return -1;
  const std::string rest = vm.substr(pool.size() + 1);
  if (rest.empty() || !std::all_of(rest.begin(), rest.end(), ::isdigit) || rest.size() > 6)
    return -1;
  return std::stoi(rest);
}

}  // namespace

void KubeVirtSimulator::syncPools() {
  if (!pools_)
    return;
  // VMs of a pool that are being deleted lose the pool's finalizer (the pool controller's
  // cleanup; nothing else of the VM is kept).
  for (const auto& vmPtr : vms_->store().list()) {
    const Json& vm = *vmPtr;
    if (!vm["metadata"].contains("deletionTimestamp"))
      continue;
    Json finalizers = vm["metadata"].value("finalizers", Json::array());
    const auto it = std::find(finalizers.begin(), finalizers.end(), Json(PoolFinalizer));
    if (it == finalizers.end())
      continue;
    finalizers.erase(it);
    Json updated = vm;
    updated["metadata"]["finalizers"] = finalizers;
    auto r = client_.update(api::virtualMachines(), updated);
    if (!r.ok() && !r.error().is(ErrorKind::NotFound) && !r.error().is(ErrorKind::Conflict))
      log::warn("cannot remove the pool finalizer",
                {{"vm", keyOf(vm)}, {"error", r.error().describe()}});
  }
  for (const auto& poolPtr : pools_->store().list()) {
    const Json& pool = *poolPtr;
    if (pool["metadata"].contains("deletionTimestamp"))
      continue;
    const std::string ns = pool["metadata"].value("namespace", "");
    const std::string name = pool["metadata"].value("name", "");
    const std::string uid = pool["metadata"].value("uid", "");
    const Json spec = pool.value("spec", Json::object());
    std::string unsupported;
    const std::string selector = selectorText(spec.value("selector", Json::object()), unsupported);
    const Json tmpl = spec.value("virtualMachineTemplate", Json::object());
    const Json tmplLabels = tmpl.value("metadata", Json::object()).value("labels", Json::object());
    const Json matchLabels =
        spec.value("selector", Json::object()).value("matchLabels", Json::object());
    for (const auto& [k, v] : matchLabels.items())
      if (tmplLabels.value(k, Json()) != v)
        unsupported = "spec.selector does not match virtualMachineTemplate.metadata.labels";
    // The pool's VMs.
    std::vector<kube::ObjectPtr> owned;
    std::set<int> used;
    int ready = 0;
    for (const auto& vmPtr : vms_->store().byNamespace(ns)) {
      if (!ownedBy(*vmPtr, uid))
        continue;
      owned.push_back(vmPtr);
      used.insert(indexOf((*vmPtr)["metadata"].value("name", ""), name));
      for (const auto& c :
           (*vmPtr).value("status", Json::object()).value("conditions", Json::array()))
        ready += c.value("type", "") == "Ready" && c.value("status", "") == "True" ? 1 : 0;
    }
    const int want = spec.value("replicas", 1);
    const bool paused = spec.value("paused", false);
    int live = 0;
    for (const auto& vm : owned)
      live += (*vm)["metadata"].contains("deletionTimestamp") ? 0 : 1;
    if (!unsupported.empty()) {
      // The controller only logs (POOL L1544-1551).
      if (warned_[keyOf(pool)] != unsupported) {
        warned_[keyOf(pool)] = unsupported;
        log::warn("pool not reconciled", {{"pool", keyOf(pool)}, {"reason", unsupported}});
      }
    } else if (!paused && live < want) {
      // Scale out: the lowest unused indexes (POOL L725-752), at most 250 a pass.
      for (int n = 0, made = 0; live + made < want && made < 250; ++n) {
        if (used.count(n))
          continue;
        Json meta = tmpl.value("metadata", Json::object());
        meta.erase("creationTimestamp");
        meta["name"] = name + "-" + std::to_string(n);
        meta["namespace"] = ns;
        meta["labels"][RevisionLabel] =
            name + "-" + std::to_string(pool["metadata"].value("generation", 1));
        meta["finalizers"] = Json::array({PoolFinalizer});
        meta["ownerReferences"] = Json::array({{{"apiVersion", "pool.kubevirt.io/v1beta1"},
                                                {"kind", "VirtualMachinePool"},
                                                {"name", name},
                                                {"uid", uid},
                                                {"controller", true},
                                                {"blockOwnerDeletion", true}}});
        Json vmSpec = tmpl.value("spec", Json::object());
        // The simulator's own mark: the pool's VMs share its demand (workloads.h).
        vmSpec["template"]["metadata"]["annotations"][PoolAnnotation] = name;
        const Json vm = {{"apiVersion", "kubevirt.io/v1"},
                         {"kind", "VirtualMachine"},
                         {"metadata", meta},
                         {"spec", vmSpec}};
        auto r = client_.create(api::virtualMachines(), ns, vm);
        ++made;
        if (r.ok())
          log::info("pool scaled out: VM created", {{"pool", keyOf(pool)}, {"vm", meta["name"]}});
        else if (!r.error().is(ErrorKind::AlreadyExists))
          log::warn("cannot create a pool VM",
                    {{"pool", keyOf(pool)}, {"error", r.error().describe()}});
      }
    } else if (!paused && live > want &&
               spec.value("scaleInStrategy", Json::object()).value("unmanaged", Json()).is_null() &&
               spec.value("scaleInStrategy", Json::object())
                   .value("opportunistic", Json())
                   .is_null()) {
      // Proactive scale-in. KubeVirt's default order is Random; the simulator takes the highest
      // indexes first (deterministic), or the order selectionPolicy.sortPolicy names.
      std::vector<kube::ObjectPtr> order;
      for (const auto& vm : owned)
        if (!(*vm)["metadata"].contains("deletionTimestamp"))
          order.push_back(vm);
      const std::string sort = spec.value("scaleInStrategy", Json::object())
                                   .value("proactive", Json::object())
                                   .value("selectionPolicy", Json::object())
                                   .value("sortPolicy", "");
      std::sort(order.begin(), order.end(), [&](const auto& a, const auto& b) {
        const int ia = indexOf((*a)["metadata"].value("name", ""), name);
        const int ib = indexOf((*b)["metadata"].value("name", ""), name);
        return sort == "AscendingOrder" ? ia < ib : ia > ib;
      });
      for (int k = 0; k < live - want && k < static_cast<int>(order.size()); ++k) {
        auto r = client_.remove(
            api::virtualMachines(),
            {ns, (*order[static_cast<size_t>(k)])["metadata"].value("name", "")}, {});
        if (r.ok())
          log::info("pool scaled in: VM deleted",
                    {{"pool", keyOf(pool)},
                     {"vm", (*order[static_cast<size_t>(k)])["metadata"].value("name", "")}});
      }
    }
    // Status (POOL L1463-1523).
    const Json status = pool.value("status", Json::object());
    if (status.value("replicas", -1) != static_cast<int>(owned.size()) ||
        status.value("readyReplicas", -1) != ready ||
        status.value("labelSelector", "") != selector) {
      const Json patch = {{"status",
                           {{"replicas", static_cast<int>(owned.size())},
                            {"readyReplicas", ready},
                            {"labelSelector", selector}}}};
      auto r = client_.patch(api::virtualMachinePools(), {ns, name}, kube::PatchType::Merge, patch,
                             {}, "status");
      if (!r.ok() && !r.error().is(ErrorKind::NotFound))
        log::warn("cannot update pool status",
                  {{"pool", keyOf(pool)}, {"error", r.error().describe()}});
    }
  }
}

}  // namespace umbra::simulator

namespace umbra::simulator {

// A load balancer spreads a workload's demand over what it sends traffic to: a pool's VMs (the
// simulator's own annotation), or the VMIs a Service selects (a real Service selects the
// virt-launcher pods, which carry their VMI's labels).
std::string KubeVirtSimulator::sharingGroup(const Json& vmi) const {
  const Json& meta = vmi.at("metadata");
  const std::string ns = meta.value("namespace", "");
  if (const std::string pool = meta.value("annotations", Json::object()).value(PoolAnnotation, "");
      !pool.empty())
    return ns + "/" + pool;
  const Json labels = meta.value("labels", Json::object());
  std::vector<std::string> matching;
  for (const auto& svc : services_->store().byNamespace(ns)) {
    const Json selector = (*svc).value("spec", Json::object()).value("selector", Json::object());
    if (selector.empty())
      continue;
    bool all = true;
    for (const auto& [k, v] : selector.items())
      all = all && labels.contains(k) && labels[k] == v;
    if (all)
      matching.push_back(ns + "/service/" + (*svc)["metadata"].value("name", ""));
  }
  if (matching.empty())
    return "";
  return *std::min_element(matching.begin(), matching.end());
}

}  // namespace umbra::simulator
