// CPU and memory hotplug as virt-controller and virt-handler do them (KubeVirt v1.9.0; see
// ../shared/kubevirt/API-NOTES.md sections 9 and 10): defaults at VMI creation, the VMI patch
// and its HotVCPUChange / HotMemoryChange condition, RestartRequired when a change cannot be
// live, and the status once the workload-update migration has made it effective.
#include <algorithm>
#include <cmath>

#include "simulator/kubevirt_sim_internal.h"

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
