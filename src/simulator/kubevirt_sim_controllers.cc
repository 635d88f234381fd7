// virt-controller's part of the simulator: VMs start and stop their VMIs, VMIs are scheduled
// and run, migrations move them.
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
    const bool run =
        strategy == "Always" || strategy == "RerunOnFailure" ||
        (strategy == "Once" && !vm.value("status", Json::object()).value("created", false));

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
      Json vmiSpec = tmpl.value("spec", Json::object());
      if (const Json ref = spec.value("instancetype", Json::object()); !ref.empty()) {
        const bool cluster = ref.value("kind", "VirtualMachineClusterInstancetype") ==
                             "VirtualMachineClusterInstancetype";
        auto it = client_.get(cluster ? api::clusterInstancetypes() : api::instancetypes(),
                              {cluster ? "" : ns, ref.value("name", "")});
        auto applied =
            it.ok() ? placement::applyInstancetype(vmiSpec, {ref.value("name", ""), (*it)["spec"]})
                    : Result<Json>(it.error());
        if (!applied.ok()) {
          log::warn("cannot start VM: its instancetype",
                    {{"vm", key}, {"error", applied.error().describe()}});
          continue;
        }
        vmiSpec = std::move(applied).value();
      }
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
               ((!run && strategy != "Once") || (vmiPhase == "Failed" && strategy != "Once") ||
                (strategy == "Always" && vmiPhase == "Succeeded"))) {
      auto r = client_.remove(api::virtualMachineInstances(), {ns, name}, {});
      if (r.ok())
        log::info(run ? "VMI ended: deleted for a restart" : "VM stopped: VMI deleted",
                  {{"vm", key}});
    } else if (vmiPtr && vmiPhase == "Running" && !migrating.count(key)) {
      // LiveUpdate: virt-controller copies the template's nodeSelector and affinity to the VMI.
      // It takes effect at the next migration, it moves nothing by itself.
      const Json tmplSpec = spec.value("template", Json::object()).value("spec", Json::object());
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
        status.value("created", false) != (vmiPtr != nullptr) || shownRestart != restartRequired) {
      if (shownRestart != restartRequired && !restartRequired.empty())
        log::info("VM RestartRequired", {{"vm", key}, {"reason", restartRequired}});
      Json patch = {{"status",
                     {{"printableStatus", printable},
                      {"ready", ready},
                      {"created", vmiPtr != nullptr},
                      {"runStrategy", strategy},
                      {"conditions", conditions}}}};
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

void KubeVirtSimulator::syncMigrations() {
  const auto t = SteadyClock::now();
  for (const auto& ptr : migrations_->store().list()) {
    const Json& m = *ptr;
    const std::string key = keyOf(m);
    const std::string ns = m["metadata"].value("namespace", "");
    const Json status = m.value("status", Json::object());
    const std::string phase = status.value("phase", "");
    if (finalPhase(phase))
      continue;
    const std::string vmiName = m["spec"].value("vmiName", "");
    const kube::ObjectPtr vmiPtr = vmis_->store().get(std::string(ns).append("/").append(vmiName));
    const auto setStatus = [&](Json st) {
      auto r = client_.patch(api::migrations(), {ns, m["metadata"].value("name", "")},
                             kube::PatchType::Merge, {{"status", st}}, {}, "status");
      if (!r.ok() && !r.error().is(ErrorKind::NotFound))
        log::warn("cannot update migration status",
                  {{"migration", key}, {"error", r.error().describe()}});
    };
    const auto fail = [&](const std::string& message) {
      setStatus(
          {{"phase", "Failed"},
           {"conditions", Json::array({condition("Failed", true, "MigrationFailed", message)})}});
      migratingSince_.erase(key);
      log::info("migration failed", {{"migration", key}, {"reason", message}});
    };
    const std::string vmiPhase =
        vmiPtr ? (*vmiPtr).value("status", Json::object()).value("phase", "") : "";
    if (phase.empty() || phase == "Pending") {
      if (!vmiPtr) {
        fail("VMI " + vmiName + " does not exist");
        continue;
      }
      if (vmiPhase != "Running") {
        fail("VMI " + vmiName + " is not running (phase " + (vmiPhase.empty() ? "none" : vmiPhase) +
             ")");
        continue;
      }
      // virt-api's admission refuses a migration of a VMI that is not LiveMigratable; without a
      // webhook here, the migration fails with the same words.
      bool refused = false;
      for (const auto& c : (*vmiPtr)["status"].value("conditions", Json::array())) {
        if (!refused && c.value("type", "") == "LiveMigratable" &&
            c.value("status", "") == "False") {
          fail("Cannot migrate VMI, Reason: " + c.value("reason", "") +
               ", Message: " + c.value("message", ""));
          refused = true;
        }
      }
      if (refused)
        continue;
      // The VMI's own selector wins on key collisions.
      const Json own = (*vmiPtr)["spec"].value("nodeSelector", Json::object());
      std::map<std::string, std::string> added;
      const Json wanted = m["spec"].value("addedNodeSelector", Json::object());
      for (const auto& [k, v] : wanted.items()) {
        if (!own.contains(k) && v.is_string())
          added[k] = v.get<std::string>();
      }
      const std::string source = (*vmiPtr)["status"].value("nodeName", "");
      auto views = nodeViews(std::string(ns).append("/").append(vmiName));  // leaves its source
      auto target = schedule((*vmiPtr)["spec"], views, added, source);
      if (!target.ok()) {
        fail("no node to migrate to: " + target.error().message);
        continue;
      }
      const Json state = {{"sourceNode", source},
                          {"targetNode", *target},
                          {"startTimestamp", now()},
                          {"migrationUid", m["metadata"].value("uid", "")},
                          {"mode", "PreCopy"}};
      Json vmi = *vmiPtr;
      vmi["status"]["migrationState"] = state;
      writeVmi(client_, vmi, "migration start");
      setStatus({{"phase", "Running"}, {"migrationState", state}});
      migratingSince_[key] = t;
      log::info("migration running", {{"migration", key}, {"from", source}, {"to", *target}});
    } else {
      const auto it = migratingSince_.find(key);
      if (it != migratingSince_.end() && t - it->second < options_.migrationDelay)
        continue;
      Json state = status.value("migrationState", Json::object());
      const std::string target = state.value("targetNode", "");
      if (!vmiPtr || target.empty()) {
        fail(vmiPtr ? "migration state lost"
                    : "VMI " + vmiName + " went away during the migration");
        continue;
      }
      state["completed"] = true;
      state["endTimestamp"] = now();
      Json vmi = *vmiPtr;
      vmi["status"]["nodeName"] = target;
      vmi["status"]["migrationState"] = state;
      vmi["metadata"]["labels"][NodeNameLabel] = target;
      // The target virt-handler makes a pending hotplug effective (MT L1099-1208).
      const bool hotplugged = completeHotplug(vmi);
      auto r = client_.update(api::virtualMachineInstances(), vmi);
      if (!r.ok())
        continue;  // try again next tick
      setStatus({{"phase", "Succeeded"}, {"migrationState", state}});
      migratingSince_.erase(key);
      log::info(
          hotplugged ? "migration succeeded: the hotplug is in effect" : "migration succeeded",
          {{"migration", key}, {"node", target}});
    }
  }
}

}  // namespace umbra::simulator
