// CPU and memory hotplug as virt-controller and virt-handler do them (KubeVirt v1.9.0; see
// ../shared/kubevirt/API-NOTES.md sections 9 and 10): defaults at VMI creation, the VMI patch
// and its HotVCPUChange / HotMemoryChange condition, RestartRequired when a change cannot be
// live, the workload updater's migration, and the status once it has made the change
// effective; and the LiveMigratable condition that decides whether it (or any migration) can.
#include <algorithm>
#include <cmath>

#include "common/log.h"
#include "simulator/kubevirt_sim.h"
#include "simulator/kubevirt_sim_internal.h"

namespace umbra::simulator {

using kube::Json;
using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// The workload updater (WU): a pending hotplug of a live-migratable VMI gets a migration; a new
// one once the last has succeeded; after a failure, or when the cache has not seen the last one,
// 30 s after it was created (the updater re-checks every 30 s, WU L55).
void KubeVirtSimulator::workloadUpdate(const std::string& key, const Json& vmi, bool migratable) {
  bool hotPending = false;
  for (const auto& c : vmi.value("status", Json::object()).value("conditions", Json::array()))
    hotPending |=
        (c.value("type", "") == "HotVCPUChange" || c.value("type", "") == "HotMemoryChange") &&
        c.value("status", "") == "True";
  if (!hotPending || !migratable)
    return;
  const std::string ns = vmi["metadata"].value("namespace", "");
  const std::string name = vmi["metadata"].value("name", "");
  if (const auto last = workloadUpdates_.find(key); last != workloadUpdates_.end()) {
    const kube::ObjectPtr m = migrations_->store().get(ns + "/" + last->second.name);
    const std::string phase = m ? (*m).value("status", Json::object()).value("phase", "") : "";
    if (!(phase == "Succeeded" ||
          ((!m || phase == "Failed") && SteadyClock::now() - last->second.at > 30s)))
      return;
  }
  const Json vmim = {{"apiVersion", "kubevirt.io/v1"},
                     {"kind", "VirtualMachineInstanceMigration"},
                     {"metadata",
                      {{"generateName", "kubevirt-workload-update-"},
                       {"namespace", ns},
                       {"labels", {{"kubevirt.io/workloadUpdateMigration", name}}}}},
                     {"spec", {{"vmiName", name}}}};
  auto r = client_.create(api::migrations(), ns, vmim);
  if (r.ok()) {
    workloadUpdates_[key] = {(*r)["metadata"].value("name", ""), SteadyClock::now()};
    log::info("workload-update migration created", {{"vm", key}});
  } else {
    log::warn("cannot create the workload-update migration",
              {{"vm", key}, {"error", r.error().describe()}});
  }
}

}  // namespace umbra::simulator

namespace umbra::simulator::sim_detail {

namespace {

constexpr double Mi = 1024.0 * 1024;
constexpr double Gi = 1024 * Mi;
constexpr int MaxHotplugRatio = 4;  // pkg/virt-config/virt-config.go L110
constexpr int MaxVcpus = 512;

int intAt(const Json& o, const char* key, int fallback) {
  const auto it = o.find(key);
  return it != o.end() && it->is_number_integer() ? it->get<int>() : fallback;
}

double quantity(const Json& o, const char* key) {
  const auto it = o.find(key);
  if (it == o.end())
    return 0;
  if (it->is_number())
    return it->get<double>();
  if (!it->is_string())
    return 0;
  return kube::parseQuantity(it->get<std::string>()).value_or(0);
}

// memory.go L53-107: guest set, >= 1Gi, a multiple of 2Mi; amd64; no realtime, no NUMA
// passthrough, no launchSecurity.
bool memoryHotpluggable(const Json& spec) {
  const Json domain = spec.value("domain", Json::object());
  const double guest = quantity(domain.value("memory", Json::object()), "guest");
  if (guest < Gi || std::fmod(guest, 2 * Mi) != 0)
    return false;
  if (spec.value("architecture", "amd64") != "amd64")
    return false;
  const Json cpu = domain.value("cpu", Json::object());
  return !cpu.contains("realtime") &&
         !cpu.value("numa", Json::object()).contains("guestMappingPassthrough") &&
         !domain.contains("launchSecurity");
}

bool conditionTrue(const Json& vmi, const std::string& type) {
  for (const auto& c : vmi.value("status", Json::object()).value("conditions", Json::array()))
    if (c.value("type", "") == type && c.value("status", "") == "True")
      return true;
  return false;
}

void setCondition(Json& vmi, const Json& c) {
  Json& conds = vmi["status"]["conditions"];
  if (!conds.is_array())
    conds = Json::array();
  for (auto& x : conds)
    if (x.value("type", "") == c.value("type", "")) {
      x = c;
      return;
    }
  conds.push_back(c);
}

void dropCondition(Json& vmi, const std::string& type) {
  Json& conds = vmi["status"]["conditions"];
  if (!conds.is_array())
    return;
  Json kept = Json::array();
  for (const auto& x : conds)
    if (x.value("type", "") != type)
      kept.push_back(x);
  conds = kept;
}

}  // namespace

Json liveMigratable(const Json& spec) {
  const Json domain = spec.value("domain", Json::object());
  const Json devices = domain.value("devices", Json::object());
  if (!devices.value("gpus", Json::array()).empty() ||
      !devices.value("hostDevices", Json::array()).empty() ||
      !spec.value("resourceClaims", Json::array()).empty())
    return condition("LiveMigratable", false, "HostDeviceNotLiveMigratable",
                     "VMI uses a PCI host devices");
  std::set<std::string> podNetworks;
  for (const auto& n : spec.value("networks", Json::array())) {
    if (n.contains("pod"))
      podNetworks.insert(n.value("name", ""));
  }
  for (const auto& i : devices.value("interfaces", Json::array())) {
    if (i.contains("bridge") && podNetworks.count(i.value("name", "")))
      return condition("LiveMigratable", false, "InterfaceNotLiveMigratable",
                       "cannot migrate VMI which does not use masquerade, bridge with "
                       "kubevirt.io/allow-pod-bridge-network-live-migration VM annotation or a "
                       "migratable plugin to connect to the pod network");
  }
  for (const auto& v : spec.value("volumes", Json::array())) {
    if (v.contains("hostDisk"))
      return condition("LiveMigratable", false, "DisksNotLiveMigratable",
                       "cannot migrate VMI with non-shared HostDisk");
  }
  if (!devices.value("filesystems", Json::array()).empty())
    return condition("LiveMigratable", false, "VirtIOFSNotLiveMigratable", "VMI uses virtiofs");
  return condition("LiveMigratable", true);
}

void applyHotplugDefaults(Json& spec) {
  Json& domain = spec["domain"];
  if (spec.value("architecture", "amd64") != "arm64") {
    Json& cpu = domain["cpu"];
    const int sockets = intAt(cpu, "sockets", 1);
    const int perSocket = intAt(cpu, "cores", 1) * intAt(cpu, "threads", 1);
    if (!cpu.contains("maxSockets")) {
      int max = sockets * MaxHotplugRatio;
      max = std::max(sockets, std::min(max, MaxVcpus / std::max(perSocket, 1)));
      cpu["maxSockets"] = max;
    }
    if (!cpu.contains("sockets"))
      cpu["sockets"] = sockets;
  }
  if (memoryHotpluggable(spec) && !domain["memory"].contains("maxGuest")) {
    const double guest = quantity(domain["memory"], "guest");
    domain["memory"]["maxGuest"] = kube::formatMebibytes(guest * MaxHotplugRatio);
  }
}

void recordBootTopology(Json& vmi) {
  const Json domain = vmi["spec"].value("domain", Json::object());
  const Json cpu = domain.value("cpu", Json::object());
  vmi["status"]["currentCPUTopology"] = {{"sockets", intAt(cpu, "sockets", 1)},
                                         {"cores", intAt(cpu, "cores", 1)},
                                         {"threads", intAt(cpu, "threads", 1)}};
  const Json memory = domain.value("memory", Json::object());
  if (memory.contains("guest")) {
    const Json guest = memory["guest"];
    vmi["status"]["memory"] = {
        {"guestAtBoot", guest}, {"guestCurrent", guest}, {"guestRequested", guest}};
  }
}

HotplugChange hotplugChange(const Json& templateSpec, const Json& vmi, bool migrating) {
  HotplugChange out;
  out.vmi = vmi;
  const Json wantDomain = templateSpec.value("domain", Json::object());
  Json& haveDomain = out.vmi["spec"]["domain"];
  const bool pending =
      migrating || conditionTrue(vmi, "HotVCPUChange") || conditionTrue(vmi, "HotMemoryChange");
  bool migratable = false;
  std::string notMigratable;
  for (const auto& c : vmi.value("status", Json::object()).value("conditions", Json::array()))
    if (c.value("type", "") == "LiveMigratable") {
      migratable = c.value("status", "") == "True";
      notMigratable = c.value("message", "");
    }
  // vCPUs (VMC L575-673).
  const Json wantCpu = wantDomain.value("cpu", Json::object());
  Json& haveCpu = haveDomain["cpu"];
  const int want = intAt(wantCpu, "sockets", 1), have = intAt(haveCpu, "sockets", 1);
  const int max = intAt(haveCpu, "maxSockets", have);
  if (want != have) {
    if (want > max)
      out.restartRequired =
          "sockets " + std::to_string(want) + " above the VMI's maxSockets " + std::to_string(max);
    else if (want < have)
      out.restartRequired = "fewer sockets (" + std::to_string(want) + " < " +
                            std::to_string(have) + "): vCPUs cannot be unplugged";
    else if (!pending) {
      haveCpu["sockets"] = want;
      setCondition(out.vmi, condition("HotVCPUChange", true));
      out.cpu = true;
    }
  }
  // Memory (VMC L3444-3566).
  const Json wantMem = wantDomain.value("memory", Json::object());
  Json& haveMem = haveDomain["memory"];
  const double wantGuest = quantity(wantMem, "guest"), haveGuest = quantity(haveMem, "guest");
  if (wantGuest > 0 && haveGuest > 0 && wantGuest != haveGuest && out.restartRequired.empty()) {
    const double maxGuest = quantity(haveMem, "maxGuest");
    const double atBoot = quantity(
        vmi.value("status", Json::object()).value("memory", Json::object()), "guestAtBoot");
    if (maxGuest <= 0)
      out.restartRequired = "memory: the VMI has no maxGuest (its spec cannot hotplug memory)";
    else if (wantGuest > maxGuest)
      out.restartRequired = "memory: guest above the VMI's maxGuest";
    else if (atBoot > 0 && wantGuest < atBoot)
      out.restartRequired = "memory: guest below its size at boot";
    else if (!migratable)
      out.restartRequired = "memory: the VMI is not live-migratable (" + notMigratable + ")";
    else if (!pending && !out.cpu) {
      haveMem["guest"] = wantMem["guest"];
      setCondition(out.vmi, condition("HotMemoryChange", true));
      out.memory = true;
    }
  }
  out.migratable = migratable;
  return out;
}

bool completeHotplug(Json& vmi) {
  bool changed = false;
  if (conditionTrue(vmi, "HotVCPUChange")) {
    const Json cpu = vmi["spec"]["domain"].value("cpu", Json::object());
    vmi["status"]["currentCPUTopology"] = {{"sockets", intAt(cpu, "sockets", 1)},
                                           {"cores", intAt(cpu, "cores", 1)},
                                           {"threads", intAt(cpu, "threads", 1)}};
    dropCondition(vmi, "HotVCPUChange");
    changed = true;
  }
  if (conditionTrue(vmi, "HotMemoryChange")) {
    const Json guest = vmi["spec"]["domain"]["memory"].value("guest", Json());
    vmi["status"]["memory"]["guestRequested"] = guest;
    vmi["status"]["memory"]["guestCurrent"] = guest;
    dropCondition(vmi, "HotMemoryChange");
    changed = true;
  }
  return changed;
}

}  // namespace umbra::simulator::sim_detail
