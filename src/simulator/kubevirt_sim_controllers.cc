// virt-controller's part of the simulator: VMs start and stop their VMIs, VMIs are scheduled
// and run (migrations: kubevirt_sim_migrations.cc).
#include "simulator/kubevirt_sim.h"

#include <algorithm>
#include <optional>
#include <set>

#include "api/shadow_placement.h"
#include "common/log.h"
#include "kube_core/quantity.h"
#include "kube_core/time.h"
#include "placement/candidates.h"
#include "placement/dra.h"
#include "simulator/kubevirt_sim_internal.h"
#include "simulator/workloads.h"

namespace umbra::simulator {

using kube::Json;
using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

using namespace sim_detail;

namespace {

// The VM template's spec with its instancetype expanded (pkg/instancetype/apply), as
// virt-controller builds the VMI from it, and compares it with the VMI on a live update (VMC
// L2988-3053): a changed spec.instancetype.name is then a CPU or memory hotplug, or
// RestartRequired.
Result<Json> expandedTemplate(kube::KubeClient& client, const Json& vmSpec, const std::string& ns) {
  Json out = vmSpec.value("template", Json::object()).value("spec", Json::object());
  const Json ref = vmSpec.value("instancetype", Json::object());
  if (ref.empty())
    return out;
  const bool cluster =
      ref.value("kind", "VirtualMachineClusterInstancetype") == "VirtualMachineClusterInstancetype";
  UMBRA_TRY(const Json it, client.get(cluster ? api::clusterInstancetypes() : api::instancetypes(),
                                      {cluster ? "" : ns, ref.value("name", "")}));
  return placement::applyInstancetype(out, {ref.value("name", ""), it["spec"]});
}

}  // namespace

void KubeVirtSimulator::syncVms() {
  // VMs with a migration in flight keep their VMI's selector as it is.
  std::set<std::string> migrating;
  for (const auto& m : migrations_->store().list()) {
    if (!finalPhase((*m).value("status", Json::object()).value("phase", "")))
      migrating.insert((*m)["metadata"].value("namespace", "") + "/" +
                       (*m)["spec"].value("vmiName", ""));
  }
  for (const auto& vmPtr : vms_->store().list()) {
    const Json& vm = *vmPtr;
    const std::string key = keyOf(vm);
    const std::string ns = vm["metadata"].value("namespace", "");
    const std::string name = vm["metadata"].value("name", "");
    const Json spec = vm.value("spec", Json::object());
    std::string strategy = spec.value("runStrategy", "");
    if (strategy.empty())
      strategy = spec.value("running", false) ? "Always" : "Halted";
    const kube::ObjectPtr vmiPtr = vmis_->store().get(key);
    const std::string vmiPhase =
        vmiPtr ? (*vmiPtr).value("status", Json::object()).value("phase", "") : "";
    const bool deleting = vmiPtr && (*vmiPtr)["metadata"].contains("deletionTimestamp");
    std::string restartRequired;  // why a template change cannot be live (VM condition)
    // What virt-api's start, stop and restart asked (status.stateChangeRequests; the first one
    // counts, VMC hasStartRequest / hasStopRequestForVMI).
    const Json requests =
        vm.value("status", Json::object()).value("stateChangeRequests", Json::array());
    const Json first = requests.empty() ? Json::object() : requests[0];
    const bool startRequest = first.value("action", "") == "Start";
    const bool stopRequest = vmiPtr && first.value("action", "") == "Stop" &&
                             (first.value("uid", "").empty() ||
                              first.value("uid", "") == (*vmiPtr)["metadata"].value("uid", ""));
    if (strategy == "Halted" && !vmiPtr && startRequest) {
      // A paused start of a halted VM: virt-controller sets it running (VMC, RunStrategyHalted).
      const Json patch = spec.contains("runStrategy") ? Json{{"spec", {{"runStrategy", "Always"}}}}
                                                      : Json{{"spec", {{"running", true}}}};
      auto r = client_.patch(api::virtualMachines(), {ns, name}, kube::PatchType::Merge, patch);
      if (!r.ok() && !r.error().is(ErrorKind::NotFound))
        log::warn("cannot set VM running", {{"vm", key}, {"error", r.error().describe()}});
      continue;
    }
    const bool run =
        (strategy == "Always" || strategy == "RerunOnFailure" ||
         (strategy == "Once" && !vm.value("status", Json::object()).value("created", false)) ||
         (strategy == "Manual" && (vmiPtr ? !stopRequest : startRequest))) &&
        !stopRequest;

    if (run && !vmiPtr && vm["metadata"].value("deletionTimestamp", "").empty()) {
      const Json tmpl = spec.value("template", Json::object());
      Json meta = tmpl.value("metadata", Json::object());
      meta.erase("creationTimestamp");
      meta["name"] = name;
      meta["namespace"] = ns;
      meta["labels"]["vm.kubevirt.io/name"] = name;
      meta["ownerReferences"] = Json::array({{{"apiVersion", "kubevirt.io/v1"},
                                              {"kind", "VirtualMachine"},
                                              {"name", name},
                                              {"uid", vm["metadata"].value("uid", "")},
                                              {"controller", true},
                                              {"blockOwnerDeletion", true}}});
      // The instancetype is expanded into the VMI spec (pkg/instancetype/apply).
      auto applied = expandedTemplate(client_, spec, ns);
      if (!applied.ok()) {
        log::warn("cannot start VM: its instancetype",
                  {{"vm", key}, {"error", applied.error().describe()}});
        continue;
      }
      Json vmiSpec = std::move(applied).value();
      // A preference's preferredArchitecture, when the template sets none.
      if (const Json pref = spec.value("preference", Json::object());
          !pref.empty() && !vmiSpec.contains("architecture")) {
        const bool cluster = pref.value("kind", "VirtualMachineClusterPreference") ==
                             "VirtualMachineClusterPreference";
        auto p = client_.get(cluster ? api::clusterPreferences() : api::preferences(),
                             {cluster ? "" : ns, pref.value("name", "")});
        if (!p.ok()) {
          log::warn("cannot start VM: its preference",
                    {{"vm", key}, {"error", p.error().describe()}});
          continue;
        }
        const std::string arch =
            (*p).value("spec", Json::object()).value("preferredArchitecture", "");
        if (!arch.empty())
          vmiSpec["architecture"] = arch;
      }
      applyHotplugDefaults(vmiSpec);  // LiveUpdate, the default rollout strategy
      if (startRequest && first.value("data", Json::object()).value("paused", "") == "true")
        vmiSpec["startStrategy"] = "Paused";  // VMC setupVMIFromVM, hasStartPausedRequest
      const Json vmi = {{"apiVersion", "kubevirt.io/v1"},
                        {"kind", "VirtualMachineInstance"},
                        {"metadata", meta},
                        {"spec", vmiSpec}};
      auto r = client_.create(api::virtualMachineInstances(), ns, vmi);
      if (r.ok())
        log::info("VM started: VMI created", {{"vm", key}});
      else if (!r.error().is(ErrorKind::AlreadyExists))
        log::warn("cannot create VMI", {{"vm", key}, {"error", r.error().describe()}});
    } else if (vmiPtr && !deleting &&
               (stopRequest || (!run && strategy != "Once") ||
                (vmiPhase == "Failed" && strategy != "Once") ||
                (strategy == "Always" && vmiPhase == "Succeeded"))) {
      auto r = client_.remove(api::virtualMachineInstances(), {ns, name}, {});
      if (r.ok())
        log::info(run ? "VMI ended: deleted for a restart" : "VM stopped: VMI deleted",
                  {{"vm", key}});
    } else if (vmiPtr && vmiPhase == "Running" && !migrating.count(key)) {
      // LiveUpdate: virt-controller copies the template's nodeSelector and affinity to the VMI.
      // It takes effect at the next migration, it moves nothing by itself.
      // An instancetype it cannot read now: KubeVirt keeps the revision it stored; so does the
      // VMI's size here.
      auto expanded = expandedTemplate(client_, spec, ns);
      Json tmplSpec = spec.value("template", Json::object()).value("spec", Json::object());
      if (expanded.ok())
        tmplSpec = std::move(expanded).value();
      else
        tmplSpec["domain"] = (*vmiPtr)["spec"].value("domain", Json::object());
      Json vmi = *vmiPtr;
      bool changed = false;
      for (const char* field : {"nodeSelector", "affinity"}) {
        const Json want = tmplSpec.value(field, Json());
        const Json have = vmi["spec"].value(field, Json());
        if (want != have) {
          if (want.is_null())
            vmi["spec"].erase(field);
          else
            vmi["spec"][field] = want;
          changed = true;
        }
      }
      // CPU and memory hotplug: the VMI takes the new size and a Hot*Change condition, or the VM
      // says RestartRequired.
      HotplugChange hot = hotplugChange(tmplSpec, vmi, false);
      restartRequired = hot.restartRequired;
      if (hot.cpu || hot.memory) {
        vmi = hot.vmi;
        log::info(hot.cpu ? "VMI vCPUs hotplugged (pending a migration)"
                          : "VMI memory hotplugged (pending a migration)",
                  {{"vm", key}});
      }
      if (changed || hot.cpu || hot.memory) {
        writeVmi(client_, vmi, "live update from the VM's template");
        if (changed)
          log::info("VMI placement constraints updated from its VM (LiveUpdate)", {{"vm", key}});
      }
      workloadUpdate(key, vmi, hot.migratable);
    }

    // The VM's status, as virt-controller reports it.
    std::string printable = "Stopped";
    if (vmiPtr) {
      const Json vs = (*vmiPtr).value("status", Json::object());
      bool paused = false;
      bool unschedulable = false;
      for (const auto& c : vs.value("conditions", Json::array())) {
        paused |= c.value("type", "") == "Paused" && c.value("status", "") == "True";
        unschedulable |= c.value("reason", "") == "Unschedulable";
      }
      if (deleting)
        printable = "Stopping";
      else if (vmiPhase == "Running")
        printable = migrating.count(key) ? "Migrating" : paused ? "Paused" : "Running";
      else if (vmiPhase == "Succeeded")
        printable = "Succeeded";
      else if (vmiPhase == "Failed")
        printable = "CrashLoopBackOff";
      else
        printable = unschedulable ? "ErrorUnschedulable" : "Starting";
    }
    const Json status = vm.value("status", Json::object());
    const bool ready = printable == "Running" || printable == "Migrating";
    // Requests carried out leave the list: a Stop once its VMI is gone, a Start once a VMI runs.
    Json trimmed = requests;
    while (!trimmed.empty()) {
      const std::string action = trimmed[0].value("action", "");
      const std::string uid = trimmed[0].value("uid", "");
      const bool stopped =
          action == "Stop" &&
          (!vmiPtr || (!uid.empty() && uid != (*vmiPtr)["metadata"].value("uid", "")));
      const bool started = action == "Start" && vmiPtr && !deleting;
      if (!stopped && !started)
        break;
      trimmed.erase(trimmed.begin());
    }
    // A RestartRequired the VM already shows stays until its VMI is gone (start and stop clear
    // it, VMC L1280, L1682); a migration in flight does not clear it either.
    std::string shownRestart;
    for (const auto& c : status.value("conditions", Json::array()))
      if (c.value("type", "") == "RestartRequired" && c.value("status", "") == "True")
        shownRestart = c.value("message", "");
    if (restartRequired.empty() && vmiPtr && migrating.count(key))
      restartRequired = shownRestart;
    Json conditions = Json::array({condition("Ready", ready, ready ? "" : "VMINotRunning")});
    if (!restartRequired.empty())
      conditions.push_back(condition("RestartRequired", true, "", restartRequired));
    if (status.value("printableStatus", "") != printable || status.value("ready", false) != ready ||
        status.value("created", false) != (vmiPtr != nullptr) || shownRestart != restartRequired ||
        trimmed != requests) {
      if (shownRestart != restartRequired && !restartRequired.empty())
        log::info("VM RestartRequired", {{"vm", key}, {"reason", restartRequired}});
      Json patch = {{"status",
                     {{"printableStatus", printable},
                      {"ready", ready},
                      {"created", vmiPtr != nullptr},
                      {"runStrategy", strategy},
                      {"conditions", conditions}}}};
      if (trimmed != requests) {
        // Guarded by the resourceVersion read: a request virt-api adds meanwhile is not lost.
        patch["status"]["stateChangeRequests"] = trimmed.empty() ? Json() : trimmed;
        patch["metadata"]["resourceVersion"] = vm["metadata"].value("resourceVersion", "");
      }
      auto r = client_.patch(api::virtualMachines(), {ns, name}, kube::PatchType::Merge, patch, {},
                             "status");
      if (!r.ok() && !r.error().is(ErrorKind::NotFound))
        log::warn("cannot update VM status", {{"vm", key}, {"error", r.error().describe()}});
    }
  }
}

void KubeVirtSimulator::syncVmis() {
  const auto t = SteadyClock::now();
  std::optional<std::vector<placement::NodeView>> views;
  for (const auto& ptr : vmis_->store().list()) {
    const Json& current = *ptr;
    if (current["metadata"].contains("deletionTimestamp"))
      continue;
    const std::string key = keyOf(current);
    const std::string ns = current["metadata"].value("namespace", "");
    const std::string name = current["metadata"].value("name", "");
    const Json status = current.value("status", Json::object());
    const std::string phase = status.value("phase", "");
    if (phase.empty() || phase == "Pending") {
      if (!views)
        views = nodeViews("");  // once per round; schedule() adds what it places
      // DRA: the claims' devices read now (they change as claims are allocated), then allocated.
      Result<std::shared_ptr<const placement::dra::Needs>> dra =
          std::shared_ptr<const placement::dra::Needs>();
      if (!current["spec"].value("resourceClaims", Json::array()).empty())
        dra = draNeeds(current);
      Result<std::string> node =
          dra.ok() ? schedule(current.value("spec", Json::object()), *views, {}, "", *dra)
                   : Result<std::string>(dra.error());
      if (node.ok() && dra.ok() && *dra) {
        for (const auto& view : *views) {
          if (view.name != *node)
            continue;
          if (Status allocated = allocateClaims(current, view, **dra); !allocated.ok())
            node = allocated.error();
        }
      }
      Json vmi = current;
      vmi["apiVersion"] = "kubevirt.io/v1";
      vmi["kind"] = "VirtualMachineInstance";
      if (node.ok()) {
        vmi["status"]["phase"] = "Scheduled";
        vmi["status"]["nodeName"] = *node;
        vmi["status"]["conditions"] = Json::array({condition("PodScheduled", true)});
        vmi["metadata"]["labels"][NodeNameLabel] = *node;
        writeVmi(client_, vmi, "schedule");
        scheduledAt_[key] = t;
        log::info("VMI scheduled", {{"vmi", key}, {"node", *node}});
        continue;
      }
      const std::string message = node.error().message;
      const Json conds = status.value("conditions", Json::array());
      if (phase == "Pending" && !conds.empty() && conds[0].value("message", "") == message)
        continue;  // already said so
      vmi["status"]["phase"] = "Pending";
      vmi["status"]["conditions"] =
          Json::array({condition("PodScheduled", false, "Unschedulable", message)});
      writeVmi(client_, vmi, "unschedulable");
      log::info("VMI unschedulable", {{"vmi", key}, {"reason", message}});
    } else if (phase == "Scheduled") {
      const auto it = scheduledAt_.find(key);
      if (it != scheduledAt_.end() && t - it->second < options_.bootDelay)
        continue;
      Json vmi = current;
      vmi["apiVersion"] = "kubevirt.io/v1";
      vmi["kind"] = "VirtualMachineInstance";
      vmi["status"]["phase"] = "Running";
      Json conds = Json::array({condition("PodScheduled", true), condition("Ready", true),
                                liveMigratable(current.value("spec", Json::object()))});
      if (current["spec"].value("startStrategy", "") == "Paused")
        conds.push_back(condition("Paused", true, "PausedByUser", "VMI was paused by user"));
      vmi["status"]["conditions"] = conds;
      vmi["status"]["guestOSInfo"] = {{"name", "umbra-sim"}};
      recordBootTopology(vmi);
      // As virt-controller records them: when each phase began.
      if (!vmi["status"].contains("phaseTransitionTimestamps"))
        vmi["status"]["phaseTransitionTimestamps"] = Json::array();
      vmi["status"]["phaseTransitionTimestamps"].push_back(
          {{"phase", "Running"}, {"phaseTransitionTimestamp", now()}});
      writeVmi(client_, vmi, "boot");
      scheduledAt_.erase(key);
      log::info("VMI running", {{"vmi", key}, {"node", status.value("nodeName", "")}});
    }
  }
}

}  // namespace umbra::simulator
