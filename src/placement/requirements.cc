// What a VM needs from a node, read as KubeVirt will run it: the VMI spec's resources and
// constraints, an instancetype expanded into it, its SR-IOV networks.
#include <algorithm>

#include "placement/candidates.h"
#include "placement/fields.h"

namespace umbra::placement {

using namespace fields;

Result<TargetRequirements> requirementsOf(const Json& spec) {
  TargetRequirements t;
  const Json& domain = at(spec, "domain");
  const Json& resources = at(domain, "resources");
  const Json& cpu = at(domain, "cpu");
  const double vcpus = static_cast<double>(cpu.value("cores", 1) * cpu.value("sockets", 1) *
                                           cpu.value("threads", 1));
  UMBRA_TRY(const double reqCpu,
            quantityAt(at(resources, "requests"), "cpu", "spec.domain.resources.requests.cpu"));
  UMBRA_TRY(const double reqMem, quantityAt(at(resources, "requests"), "memory",
                                            "spec.domain.resources.requests.memory"));
  UMBRA_TRY(const double limCpu,
            quantityAt(at(resources, "limits"), "cpu", "spec.domain.resources.limits.cpu"));
  UMBRA_TRY(const double guest,
            quantityAt(at(domain, "memory"), "guest", "spec.domain.memory.guest"));
  t.requests.cpu = reqCpu > 0 ? reqCpu : vcpus / CpuAllocationRatio;
  t.requests.memory = reqMem > 0 ? reqMem : guest;
  t.size.cpu = std::max({vcpus, limCpu, reqCpu});
  t.size.memory = guest > 0 ? guest : reqMem;
  if (t.size.memory <= 0) {
    return terminal("spec.domain.memory.guest",
                    "the target sets no memory (memory.guest or resources.requests.memory)");
  }
  for (const auto& [k, v] : at(spec, "nodeSelector").items()) {
    t.nodeSelector[k] = v.get<std::string>();
  }
  // What virt-controller adds to the virt-launcher pod's selector.
  t.architecture = spec.value("architecture", "");
  if (!t.architecture.empty())
    t.nodeSelector.emplace("kubernetes.io/arch", t.architecture);
  t.dedicatedCpus = cpu.value("dedicatedCpuPlacement", false);
  if (t.dedicatedCpus) {
    t.nodeSelector.emplace("cpumanager", "true");
    t.requests.cpu = std::max(t.requests.cpu, vcpus);  // whole cores, request = limit
  }
  // Hugepages back the guest memory: the pod requests hugepages-<size> for it.
  const std::string pageSize = at(at(domain, "memory"), "hugepages").value("pageSize", "");
  if (!pageSize.empty())
    t.requests.extended["hugepages-" + pageSize] += t.size.memory;
  // DRA claims: what they need is read from the API by the caller (placement/dra.h).
  const Json claims = spec.value("resourceClaims", Json::array());
  for (size_t i = 0; i < claims.size(); ++i) {
    const std::string field = "spec.resourceClaims[" + std::to_string(i) + "]";
    const std::string name = claims[i].value("name", "");
    if (name.empty())
      return terminal(field + ".name", "is required");
    if (claims[i].contains("resourceClaimName") == claims[i].contains("resourceClaimTemplateName"))
      return terminal(field, "exactly one of resourceClaimName and resourceClaimTemplateName");
    t.resourceClaims.push_back(name);
  }
  // GPUs and host devices: from a device plugin, one of the named resource each; from a DRA
  // claim, an entry of spec.resourceClaims.
  const Json& devices = at(domain, "devices");
  for (const char* kind : {"gpus", "hostDevices"}) {
    const Json list = devices.value(kind, Json::array());
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string field =
          std::string("spec.domain.devices.") + kind + "[" + std::to_string(i) + "]";
      if (list[i].contains("claimName")) {
        const std::string claim = list[i].value("claimName", "");
        if (std::find(t.resourceClaims.begin(), t.resourceClaims.end(), claim) ==
            t.resourceClaims.end())
          return terminal(field + ".claimName",
                          "\"" + claim + "\" is not an entry of spec.resourceClaims");
        continue;
      }
      const std::string name = list[i].value("deviceName", "");
      if (name.empty())
        return terminal(field + ".deviceName", "is required");
      t.requests.extended[name] += 1;
    }
  }
  const Json& required = at(at(at(spec, "affinity"), "nodeAffinity"),
                            "requiredDuringSchedulingIgnoredDuringExecution");
  t.requiredAffinityTerms = required.value("nodeSelectorTerms", Json::array());
  t.tolerations = spec.value("tolerations", Json::array());
  return t;
}

void Resources::add(const Resources& r, double share) {
  cpu += share * r.cpu;
  memory += share * r.memory;
  for (const auto& [name, n] : r.extended)
    extended[name] += share * n;
}

void Resources::subtract(const Resources& r) {
  cpu -= r.cpu;
  memory -= r.memory;
  for (const auto& [name, n] : r.extended)
    extended[name] -= n;
}

Result<Json> applyInstancetype(const Json& vmiSpec, const Instancetype& it) {
  Json spec = vmiSpec;
  const Json& cpu = at(it.spec, "cpu");
  const Json& memory = at(it.spec, "memory");
  const auto field = [&](const std::string& f) { return it.name + ": spec." + f; };
  if (!cpu.contains("guest") || !cpu["guest"].is_number_integer() || cpu["guest"].get<int>() < 1)
    return terminal(field("cpu.guest"), "must be a positive integer");
  const auto guest = memory.find("guest");
  if (guest == memory.end() || !guest->is_string() ||
      !kube::parseQuantity(guest->get<std::string>()))
    return terminal(field("memory.guest"), "must be a quantity");
  Json& domain = spec["domain"];
  // cpu.guest becomes sockets (preferredCPUTopology defaults to sockets).
  domain["cpu"]["sockets"] = cpu["guest"];
  domain["cpu"]["cores"] = 1;
  domain["cpu"]["threads"] = 1;
  if (cpu.value("dedicatedCPUPlacement", false))
    domain["cpu"]["dedicatedCpuPlacement"] = true;
  domain["memory"]["guest"] = *guest;
  if (memory.contains("hugepages"))
    domain["memory"]["hugepages"] = memory["hugepages"];
  // overcommitPercent p: requests.memory = guest x (1 - p/100).
  const double p = memory.value("overcommitPercent", 0.0);
  if (p > 0) {
    const double bytes = *kube::parseQuantity(guest->get<std::string>()) * (1 - p / 100);
    domain["resources"]["requests"]["memory"] = std::to_string(static_cast<int64_t>(bytes));
  }
  for (const char* kind : {"gpus", "hostDevices"}) {
    if (it.spec.contains(kind))
      domain["devices"][kind] = it.spec[kind];
  }
  for (const auto& [k, v] : at(it.spec, "nodeSelector").items())
    spec["nodeSelector"][k] = v;
  return spec;
}

std::vector<std::string> sriovNetworks(const Json& spec) {
  std::map<std::string, std::string> multus;  // network name -> networkName
  for (const auto& n : spec.value("networks", Json::array())) {
    if (n.contains("multus"))
      multus[n.value("name", "")] = n["multus"].value("networkName", "");
  }
  std::vector<std::string> out;
  const Json& devices = at(at(spec, "domain"), "devices");
  for (const auto& i : devices.value("interfaces", Json::array())) {
    const auto it = multus.find(i.value("name", ""));
    if (i.contains("sriov") && it != multus.end() && !it->second.empty())
      out.push_back(it->second);
  }
  return out;
}

}  // namespace umbra::placement
