// WorldReader's view of fidelity Mirror: the mesh, the target's Service, and this placement's
// mirroring objects, read from the API server for Mirror placements only.
#include "controller/world_reader.h"
#include "placement/mirror.h"
#include "placement/shadow.h"

namespace umbra::controller {

using kube::Json;

namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names)
    out += (out.empty() ? "" : ", ") + n;
  return out;
}

bool ours(const Json& object, const std::string& placementLabel) {
  const Json labels = object["metadata"].value("labels", Json::object());
  return labels.value(api::PlacementLabel, "") == placementLabel &&
         labels.value(api::RoleLabel, "") == placement::MirrorRole;
}

}  // namespace

Result<MirrorView> WorldReader::mirrorView(const PlacementInput& in,
                                           const TargetView& target) const {
  MirrorView m;
  const auto& wanted = in.settings->mirroring;
  const std::string label = placement::placementLabelValue(in.name);
  const std::string targetName = std::string(api::toString(in.settings->targetKind)) + " " + in.ns +
                                 "/" + in.settings->targetName;
  const auto problem = [&](const char* reason, std::string message) {
    if (m.problemReason.empty()) {
      m.problemReason = reason;
      m.problem = std::move(message);
    }
  };
  auto virtualServices = kube::listAll(client_, api::virtualServices(), in.ns, {});
  if (!virtualServices.ok() && !virtualServices.error().is(ErrorKind::NotFound))
    return virtualServices.error().wrap("while listing VirtualServices");
  if (!virtualServices.ok())
    problem("NoMesh",
            "Istio's VirtualService API (networking.istio.io/v1) is not served: there is no "
            "service mesh to mirror requests with");
  if (!target.vmiExists || target.vmiPhase != "Running")
    problem(
        "TargetNotRunning",
        "fidelity Mirror copies a running target's requests, and " + targetName + " is " +
            (target.vmiExists ? "not running (its VMI is " +
                                    (target.vmiPhase.empty() ? "starting" : target.vmiPhase) + ")"
                              : "not running"));
  auto services = kube::listAll(client_, kube::resources::services(), in.ns, {});
  if (!services.ok())
    return services.error().wrap("while listing Services");
  std::vector<std::string> selecting;
  for (const auto& svc : (*services)["items"]) {
    const std::string name = svc["metadata"].value("name", "");
    if (ours(svc, label)) {
      m.services.insert(name);
      continue;
    }
    const bool named = !wanted.service.empty() && name == wanted.service;
    const bool selects = placement::selectorMatches(
        svc.value("spec", Json::object()).value("selector", Json::object()), target.labels);
    if (named && !selects && target.vmiExists)
      problem("NoService", "Service " + in.ns + "/" + name +
                               " (spec.shadow.mirroring.service) does not select " + targetName);
    if (named || (wanted.service.empty() && selects)) {
      m.service = svc;
      selecting.push_back(name);
    }
  }
  if (selecting.empty() && !wanted.service.empty())
    problem("NoService", "Service " + in.ns + "/" + wanted.service +
                             " (spec.shadow.mirroring.service) does not exist");
  else if (selecting.empty() && target.vmiExists)
    problem("NoService", "no Service in namespace " + in.ns + " selects " + targetName +
                             ": the mesh mirrors a Service's requests; create one or set "
                             "spec.shadow.mirroring.service");
  else if (selecting.size() > 1)
    problem("AmbiguousService", "Services " + joined(selecting) + " all select " + targetName +
                                    "; set spec.shadow.mirroring.service to the one to mirror");
  if (selecting.size() != 1)
    m.service = Json();
  if (virtualServices.ok()) {
    const std::string mine = placement::mirrorVirtualServiceName(in.name);
    for (const auto& vs : (*virtualServices)["items"]) {
      const std::string name = vs["metadata"].value("name", "");
      if (name == mine && ours(vs, label)) {
        m.virtualService = true;
        m.mirrored = placement::mirroredHosts(vs);
      } else if (!m.service.is_null() &&
                 placement::routesHost(vs, m.service["metadata"].value("name", ""), in.ns)) {
        problem("HostRouted",
                "VirtualService " + in.ns + "/" + name + " already routes Service " +
                    m.service["metadata"].value("name", "") +
                    "; Umbra does not change the routing it has (Istio does not merge two "
                    "VirtualServices of one host)");
      }
    }
  }
  auto policy = client_.get(kube::resources::networkPolicies(),
                            {in.ns, placement::shadowEgressPolicyName(in.name)});
  if (!policy.ok() && !policy.error().is(ErrorKind::NotFound))
    return policy.error().wrap("while reading the shadows' NetworkPolicy");
  m.egressPolicy = policy.ok() && ours(*policy, label);
  return m;
}

}  // namespace umbra::controller
