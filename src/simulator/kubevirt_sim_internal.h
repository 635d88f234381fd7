#pragma once

// Internal to kubevirt_sim*.cc: what virt-controller's and virt-handler's parts share.
#include <string>

#include <nlohmann/json.hpp>

#include "api/shadow_placement.h"
#include "common/log.h"
#include "kube/client.h"
#include "kube_core/quantity.h"
#include "kube_core/time.h"

namespace umbra::simulator::sim_detail {

using kube::Json;
using namespace std::chrono_literals;

inline constexpr const char* NodeNameLabel = "kubevirt.io/nodeName";
inline constexpr auto HeartbeatEvery = 10s;

inline std::string keyOf(const Json& o) {
  return o["metadata"].value("namespace", "") + "/" + o["metadata"].value("name", "");
}

inline std::string now() {
  return kube::formatTime(std::chrono::system_clock::now());
}

inline Json condition(const std::string& type, bool status, const std::string& reason = "",
                      const std::string& message = "") {
  Json c = {{"type", type},
            {"status", status ? "True" : "False"},
            {"lastProbeTime", nullptr},
            {"lastTransitionTime", now()}};
  if (!reason.empty())
    c["reason"] = reason;
  if (!message.empty())
    c["message"] = message;
  return c;
}

// The LiveMigratable condition virt-controller computes for a VMI spec (reasons from KubeVirt's
// api/core/v1/types.go): host devices and GPUs, a bridge binding on the pod network, host disks
// and virtiofs filesystems make a VMI not live-migratable. PVC access modes are not modelled.
Json liveMigratable(const Json& vmiSpec);

// Hotplug (kubevirt_sim_hotplug.cc). The defaults virt-controller gives a new VMI under
// LiveUpdate: maxSockets (sockets x 4, at most 512 vCPUs; not on arm64) and, for a spec that can
// hotplug memory, maxGuest (guest x 4).
void applyHotplugDefaults(Json& vmiSpec);
// At boot: status.currentCPUTopology and status.memory {guestAtBoot, guestCurrent, guestRequested}.
void recordBootTopology(Json& vmi);
// What a VM's template asks of its running VMI: the VMI with the new sockets (or guest memory)
// and its HotVCPUChange (HotMemoryChange) condition, or why a restart is required instead. One
// change at a time: nothing new while one is pending or the VMI migrates.
struct HotplugChange {
  Json vmi;
  bool cpu = false, memory = false;  // the VMI was changed; a workload-update migration follows
  bool migratable = false;
  std::string restartRequired;  // "": none
};
HotplugChange hotplugChange(const Json& templateSpec, const Json& vmi, bool migrating);
// After a migration: what a pending hotplug asked is now in effect (status) and its condition
// is removed. False when nothing was pending.
bool completeHotplug(Json& vmi);

inline bool finalPhase(const std::string& p) {
  return p == "Succeeded" || p == "Failed";
}

inline std::string cpuText(double cores) {
  return kube::formatMilliCpu(cores);
}

// Writes a VMI (no status subresource: status travels with the object). A Conflict or NotFound
// means our cache is behind; the next tick sees the new state and tries again.
inline void writeVmi(kube::KubeClient& client, const Json& vmi, const std::string& what) {
  auto r = client.update(api::virtualMachineInstances(), vmi);
  if (!r.ok() && !r.error().is(ErrorKind::Conflict) && !r.error().is(ErrorKind::NotFound))
    log::warn("cannot update VMI",
              {{"vmi", keyOf(vmi)}, {"step", what}, {"error", r.error().describe()}});
}

}  // namespace umbra::simulator::sim_detail
