// virt-controller's and virt-handler's migrations: a VirtualMachineInstanceMigration moves a
// Running VMI to another feasible node after --migration-delay, or fails with KubeVirt's words.
#include "simulator/kubevirt_sim.h"

#include "common/log.h"
#include "simulator/kubevirt_sim_internal.h"

namespace umbra::simulator {

using kube::Json;
using SteadyClock = std::chrono::steady_clock;

using namespace sim_detail;

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
