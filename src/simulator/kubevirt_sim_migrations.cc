// virt-controller's and virt-handler's migrations: a VirtualMachineInstanceMigration goes through
// KubeVirt's phases (Scheduling, Scheduled, PreparingTarget, TargetReady, Running) over
// --migration-delay, then its transfer takes what sim::preCopy gives for the guest's memory, its
// dirty rate and the link between the two nodes; it succeeds (the VMI is on the target) or fails
// with virt-handler's words (the VMI stays). Refusals use KubeVirt's words too.
#include "simulator/kubevirt_sim.h"

#include "common/log.h"
#include "simulator/kubevirt_sim_internal.h"

namespace umbra::simulator {

using kube::Json;
using SteadyClock = std::chrono::steady_clock;

using namespace sim_detail;

namespace {

constexpr const char* Phases[] = {"Scheduling", "Scheduled", "PreparingTarget", "TargetReady",
                                  "Running"};
constexpr size_t Done = std::size(Phases);

// The step a migration has reached `elapsed` after its creation (Done: the transfer is over).
// virt-controller moves one phase per sync, so the caller advances at most one step a tick.
size_t stepAt(SteadyClock::duration elapsed, std::chrono::milliseconds setup,
              double transferSeconds) {
  const auto quarter = setup / 4;
  for (size_t i = 1; i < 4; ++i) {
    if (elapsed < static_cast<long>(i) * quarter)
      return i - 1;
  }
  if (elapsed < setup)
    return 3;
  if (elapsed < setup + std::chrono::duration_cast<SteadyClock::duration>(
                            std::chrono::duration<double>(transferSeconds)))
    return 4;
  return Done;
}

}  // namespace

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
    const std::string vmiKey = std::string(ns).append("/").append(vmiName);
    const kube::ObjectPtr vmiPtr = vmis_->store().get(vmiKey);
    const auto setStatus = [&](Json st) {
      auto r = client_.patch(api::migrations(), {ns, m["metadata"].value("name", "")},
                             kube::PatchType::Merge, {{"status", st}}, {}, "status");
      if (!r.ok() && !r.error().is(ErrorKind::NotFound))
        log::warn("cannot update migration status",
                  {{"migration", key}, {"error", r.error().describe()}});
      return r.ok();
    };
    const auto fail = [&](const std::string& message) {
      setStatus(
          {{"phase", "Failed"},
           {"conditions", Json::array({condition("Failed", true, "MigrationFailed", message)})}});
      migrating_.erase(key);
      log::info("migration failed", {{"migration", key}, {"reason", message}});
    };
    const std::string vmiPhase =
        vmiPtr ? (*vmiPtr).value("status", Json::object()).value("phase", "") : "";
    auto run = migrating_.find(key);
    if (run == migrating_.end()) {
      // New, or umbra-sim restarted mid-way: start (again) from its creation.
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
      auto views = nodeViews(vmiKey);  // leaves its source
      auto target = schedule((*vmiPtr)["spec"], views, added, source);
      if (!target.ok()) {
        fail("no node to migrate to: " + target.error().message);
        continue;
      }
      MigrationRun r;
      r.created = t;
      double memory = 0, dirty = 0, bandwidth = 0;
      {
        const std::lock_guard<std::mutex> lock(mutex_);
        const auto* w = sim_.workload(vmiKey);
        if (!w)
          continue;  // its guest joins the physics later in this tick; plan it on the next
        memory = w->spec.memoryBytes;
        dirty = sim_.dirtyRate(vmiKey);
        const auto link = sim_.migrationLink(source, *target);
        bandwidth = link.bandwidthBytesPerSecond;
        r.outcome = sim::preCopy(memory, dirty, link);
      }
      r.transferSeconds = r.outcome.seconds / std::max(1e-9, options_.migrationSpeed);
      r.state = {{"sourceNode", source},
                 {"targetNode", *target},
                 {"migrationUid", m["metadata"].value("uid", "")},
                 {"mode", "PreCopy"}};
      r.transitions = status.value("phaseTransitionTimestamps", Json::array());
      run = migrating_.emplace(key, std::move(r)).first;
      log::info("migration scheduled",
                {{"migration", key},
                 {"from", source},
                 {"to", *target},
                 {"memory", std::to_string(memory)},
                 {"dirtyRate", std::to_string(dirty)},
                 {"bandwidth", std::to_string(bandwidth)},
                 {"transferSeconds", std::to_string(run->second.outcome.seconds)}});
    }
    MigrationRun& r = run->second;
    if (!vmiPtr) {
      fail("VMI " + vmiName + " went away during the migration");
      continue;
    }
    // One phase further at most (from none to Scheduling first).
    size_t current = Done;
    for (size_t i = 0; i < Done; ++i) {
      if (r.phase == Phases[i])
        current = i;
    }
    const size_t next = current == Done ? 0 : current + 1;
    if (std::min(next, stepAt(t - r.created, options_.migrationDelay, r.transferSeconds)) < next)
      continue;
    if (next < Done) {
      const std::string now = Phases[next];
      r.transitions.push_back({{"phase", now}, {"phaseTransitionTimestamp", sim_detail::now()}});
      Json st = {{"phase", now}, {"phaseTransitionTimestamps", r.transitions}};
      if (now == std::string("Running")) {
        r.state["startTimestamp"] = sim_detail::now();
        Json vmi = *vmiPtr;
        vmi["status"]["migrationState"] = r.state;
        writeVmi(client_, vmi, "migration start");
        log::info("migration running", {{"migration", key}});
      }
      if (now == std::string("Running") || r.state.contains("startTimestamp"))
        st["migrationState"] = r.state;
      if (setStatus(st))
        r.phase = now;
      continue;
    }
    // The transfer is over: switch-over, or virt-handler's abort.
    r.state["endTimestamp"] = sim_detail::now();
    Json vmi = *vmiPtr;
    const std::string target = r.state.value("targetNode", "");
    if (!r.outcome.succeeded) {
      r.state["failed"] = true;
      r.state["failureReason"] = r.outcome.failure;
      vmi["status"]["migrationState"] = r.state;
      writeVmi(client_, vmi, "migration failure");
      r.transitions.push_back(
          {{"phase", "Failed"}, {"phaseTransitionTimestamp", sim_detail::now()}});
      setStatus({{"phase", "Failed"},
                 {"phaseTransitionTimestamps", r.transitions},
                 {"migrationState", r.state},
                 {"conditions",
                  Json::array({condition("Failed", true, "MigrationFailed", r.outcome.failure)})}});
      log::info("migration failed", {{"migration", key}, {"reason", r.outcome.failure}});
      migrating_.erase(run);
      continue;
    }
    r.state["completed"] = true;
    vmi["status"]["nodeName"] = target;
    vmi["status"]["migrationState"] = r.state;
    vmi["metadata"]["labels"][NodeNameLabel] = target;
    // The target virt-handler makes a pending hotplug effective (MT L1099-1208).
    const bool hotplugged = completeHotplug(vmi);
    auto updated = client_.update(api::virtualMachineInstances(), vmi);
    if (!updated.ok())
      continue;  // try again next tick
    r.transitions.push_back(
        {{"phase", "Succeeded"}, {"phaseTransitionTimestamp", sim_detail::now()}});
    setStatus({{"phase", "Succeeded"},
               {"phaseTransitionTimestamps", r.transitions},
               {"migrationState", r.state}});
    log::info(hotplugged ? "migration succeeded: the hotplug is in effect" : "migration succeeded",
              {{"migration", key}, {"node", target}});
    migrating_.erase(run);
  }
}

}  // namespace umbra::simulator
