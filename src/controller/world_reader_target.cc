// WorldReader: the target as KubeVirt will run it (its instancetype applied, SR-IOV networks'
// devices added, its DRA claims read), and what other placements' targets request.
#include "controller/world_reader.h"

#include "placement/dra.h"
#include "placement/shadow.h"

namespace umbra::controller {

using kube::Json;

std::optional<TargetView> WorldReader::target(const PlacementInput& in) const {
  const bool isVm = in.settings->targetKind == api::TargetKind::VirtualMachine;
  const std::string key = in.ns + "/" + in.settings->targetName;
  const kube::ObjectPtr target = (isVm ? caches_.vms : caches_.vmis).get(key);
  if (!target)
    return std::nullopt;
  TargetView t;
  t.spec = isVm ? (*target)["spec"]["template"].value("spec", Json::object())
                : (*target).value("spec", Json::object());
  t.hasRunningField = isVm && (*target)["spec"].contains("running");
  t.runStrategy = isVm ? (*target)["spec"].value("runStrategy", "") : "";
  auto runSpec = runSpecOf(*target, isVm);
  // What the API server is asked only for this target: its preference, its SR-IOV networks.
  Status read = runSpec.ok() && isVm ? applyPreference(*target, *runSpec) : okStatus();
  auto req = runSpec.ok() ? placement::requirementsOf(*runSpec)
                          : Result<placement::TargetRequirements>(runSpec.error());
  if (read.ok() && req.ok())
    read = addSriovResources(in.ns, *runSpec, *req);
  if (read.ok() && req.ok())
    read = addDraNeeds(in.ns, *runSpec, *req);
  if (!read.ok() && read.error().retryable())
    t.unavailable = read.error().message;  // e.g. the API server unavailable: retried
  else if (!read.ok())
    t.invalid = read.error().message;
  else if (!req.ok())
    t.invalid = req.error().message;
  else
    t.requirements = *req;
  // Umbra's own earlier pin is not a constraint of the VM's.
  const std::string pinned = (*target)["metadata"]
                                 .value("annotations", Json::object())
                                 .value(api::PinnedNodeAnnotation, "");
  t.pinnedNode = pinned;
  if (t.requirements && !pinned.empty()) {
    auto& selector = t.requirements->nodeSelector;
    const auto it = selector.find("kubernetes.io/hostname");
    if (it != selector.end() && it->second == pinned)
      selector.erase(it);
  }
  if (const kube::ObjectPtr vmi = caches_.vmis.get(key)) {
    t.vmiExists = true;
    t.labels = (*vmi)["metadata"].value("labels", Json::object());
    t.runningOn = (*vmi).value("status", Json::object()).value("nodeName", "");
    t.vmiPhase = (*vmi).value("status", Json::object()).value("phase", "");
    for (const auto& c :
         (*vmi).value("status", Json::object()).value("conditions", Json::array())) {
      if (c.value("type", "") == "PodScheduled" && c.value("status", "") == "False" &&
          c.value("reason", "") == "Unschedulable")
        t.unschedulable = c.value("message", "Unschedulable");
      if (c.value("type", "") == "LiveMigratable" && c.value("status", "") == "False")
        t.notMigratable = c.value("reason", "NotLiveMigratable") + ": " + c.value("message", "");
    }
  }
  return t;
}

// What a placement's target requests, and the node its VMI is on ("" if none).
std::optional<placement::Resources> WorldReader::targetRequests(const Json& sp,
                                                                std::string& on) const {
  const Json target = sp["spec"].value("target", Json::object());
  const bool isVm = target.value("kind", "") == "VirtualMachine";
  const std::string key = sp["metadata"].value("namespace", "") + "/" + target.value("name", "");
  const kube::ObjectPtr t = (isVm ? caches_.vms : caches_.vmis).get(key);
  if (!t)
    return std::nullopt;
  const kube::ObjectPtr vmi = caches_.vmis.get(key);
  on = vmi ? (*vmi).value("status", Json::object()).value("nodeName", "") : "";
  auto spec = runSpecOf(*t, isVm);
  if (!spec.ok())
    return std::nullopt;
  auto req = placement::requirementsOf(*spec);
  if (!req.ok())
    return std::nullopt;
  return req->requests;
}

Status WorldReader::addSriovResources(const std::string& ns, const Json& spec,
                                      placement::TargetRequirements& req) const {
  for (const auto& network : placement::sriovNetworks(spec)) {
    const auto slash = network.find('/');
    const std::string nadNs = slash == std::string::npos ? ns : network.substr(0, slash);
    const std::string name = slash == std::string::npos ? network : network.substr(slash + 1);
    const std::string what = "spec.networks: NetworkAttachmentDefinition " + nadNs + "/" + name;
    auto nad = client_.get(api::networkAttachmentDefinitions(), {nadNs, name});
    if (!nad.ok())
      return Error::make(nad.error().retryable() ? ErrorKind::Unavailable : ErrorKind::Terminal,
                         what + " of an SR-IOV interface: " + nad.error().message);
    const std::string resource = (*nad)["metadata"]
                                     .value("annotations", Json::object())
                                     .value("k8s.v1.cni.cncf.io/resourceName", "");
    if (resource.empty())
      return Error::make(ErrorKind::Terminal,
                         what +
                             " has no k8s.v1.cni.cncf.io/resourceName annotation: the SR-IOV "
                             "device it needs is unknown");
    req.requests.extended[resource] += 1;
  }
  return okStatus();
}

Status WorldReader::addDraNeeds(const std::string& ns, const Json& spec,
                                placement::TargetRequirements& req) const {
  if (req.resourceClaims.empty())
    return okStatus();
  const placement::dra::Source api{
      [this](const kube::ResourceType& t, const std::string& ns, const std::string& name) {
        return client_.get(t, {ns, name});
      },
      [this](const kube::ResourceType& t) { return kube::listAll(client_, t, "", {}); }};
  auto needs = placement::dra::needsOf(spec, ns, api);
  if (!needs.ok())
    return Error::make(needs.error().retryable() ? ErrorKind::Unavailable : ErrorKind::Terminal,
                       needs.error().message);
  req.dra = *needs;
  return okStatus();
}

Status WorldReader::applyPreference(const Json& vm, Json& vmiSpec) const {
  const Json ref = vm["spec"].value("preference", Json::object());
  if (ref.empty() || vmiSpec.contains("architecture"))
    return okStatus();
  const std::string kind = ref.value("kind", "VirtualMachineClusterPreference");
  const std::string name = ref.value("name", "");
  const bool cluster =
      kind == "VirtualMachineClusterPreference" || kind == "virtualmachineclusterpreference";
  auto preference = client_.get(cluster ? api::clusterPreferences() : api::preferences(),
                                {cluster ? "" : vm["metadata"].value("namespace", ""), name});
  if (!preference.ok())
    return Error::make(
        preference.error().retryable() ? ErrorKind::Unavailable : ErrorKind::Terminal,
        "spec.preference: " + kind + " \"" + name + "\": " + preference.error().message);
  const std::string arch =
      (*preference).value("spec", Json::object()).value("preferredArchitecture", "");
  if (!arch.empty())
    vmiSpec["architecture"] = arch;
  return okStatus();
}

Result<Json> WorldReader::runSpecOf(const Json& target, bool isVm) const {
  if (!isVm)
    return target.value("spec", Json::object());
  const Json& spec = target["spec"];
  Json vmiSpec = spec.value("template", Json::object()).value("spec", Json::object());
  const Json ref = spec.value("instancetype", Json::object());
  if (ref.empty())
    return vmiSpec;
  const std::string kind = ref.value("kind", "VirtualMachineClusterInstancetype");
  const std::string name = ref.value("name", "");
  const bool cluster =
      kind == "VirtualMachineClusterInstancetype" || kind == "virtualmachineclusterinstancetype";
  const kube::ObjectPtr it =
      cluster ? caches_.clusterInstancetypes.get(name)
              : caches_.instancetypes.get(target["metadata"].value("namespace", "") + "/" + name);
  if (!it)
    return Error::make(ErrorKind::Terminal,
                       "spec.instancetype: " + kind + " \"" + name + "\" does not exist");
  return placement::applyInstancetype(vmiSpec,
                                      {kind + "/" + name, (*it).value("spec", Json::object())});
}

}  // namespace umbra::controller
