// The view of fidelity Mirror (a ShadowPlacement's, an InstancetypeTrial's): the mesh, the
// target's Service, and the owner's mirroring objects, read from the API server; and the one
// writer of those objects.
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

bool ours(const Json& object, const placement::MirrorScope& scope) {
  const Json labels = object["metadata"].value("labels", Json::object());
  return labels.value(api::RoleLabel, "") == placement::MirrorRole &&
         placement::selectorMatches(scope.labels, labels);
}

}  // namespace

Result<MirrorView> readMirrorView(kube::KubeClient& client, const MirrorQuery& q) {
  MirrorView m;
  const std::string& ns = q.scope.ns;
  const auto problem = [&](const char* reason, std::string message) {
    if (m.problemReason.empty()) {
      m.problemReason = reason;
      m.problem = std::move(message);
    }
  };
  auto virtualServices = kube::listAll(client, api::virtualServices(), ns, {});
  if (!virtualServices.ok() && !virtualServices.error().is(ErrorKind::NotFound))
    return virtualServices.error().wrap("while listing VirtualServices");
  if (!virtualServices.ok())
    problem("NoMesh",
            "Istio's VirtualService API (networking.istio.io/v1) is not served: there is no "
            "service mesh to mirror requests with");
  if (!q.targetExists || q.targetPhase != "Running")
    problem("TargetNotRunning",
            "fidelity Mirror copies a running target's requests, and " + q.targetName + " is " +
                (q.targetExists ? "not running (its VMI is " +
                                      (q.targetPhase.empty() ? "starting" : q.targetPhase) + ")"
                                : "not running"));
  auto services = kube::listAll(client, kube::resources::services(), ns, {});
  if (!services.ok())
    return services.error().wrap("while listing Services");
  std::vector<std::string> selecting;
  for (const auto& svc : (*services)["items"]) {
    const std::string name = svc["metadata"].value("name", "");
    if (ours(svc, q.scope)) {
      m.services.insert(name);
      continue;
    }
    const bool named = !q.service.empty() && name == q.service;
    const bool selects = placement::selectorMatches(
        svc.value("spec", Json::object()).value("selector", Json::object()), q.targetLabels);
    if (named && !selects && q.targetExists)
      problem("NoService", "Service " + ns + "/" + name + " (" + q.serviceField +
                               ") does not select " + q.targetName);
    if (named || (q.service.empty() && selects)) {
      m.service = svc;
      selecting.push_back(name);
    }
  }
  if (selecting.empty() && !q.service.empty())
    problem("NoService",
            "Service " + ns + "/" + q.service + " (" + q.serviceField + ") does not exist");
  else if (selecting.empty() && q.targetExists)
    problem("NoService", "no Service in namespace " + ns + " selects " + q.targetName +
                             ": the mesh mirrors a Service's requests; create one or set " +
                             q.serviceField);
  else if (selecting.size() > 1)
    problem("AmbiguousService", "Services " + joined(selecting) + " all select " + q.targetName +
                                    "; set " + q.serviceField + " to the one to mirror");
  if (selecting.size() != 1)
    m.service = Json();
  if (virtualServices.ok()) {
    const std::string mine = placement::mirrorVirtualServiceName(q.scope.name);
    for (const auto& vs : (*virtualServices)["items"]) {
      const std::string name = vs["metadata"].value("name", "");
      if (name == mine && ours(vs, q.scope)) {
        m.virtualService = true;
        m.mirrored = placement::mirroredHosts(vs);
      } else if (!m.service.is_null() &&
                 placement::routesHost(vs, m.service["metadata"].value("name", ""), ns)) {
        problem("HostRouted",
                "VirtualService " + ns + "/" + name + " already routes Service " +
                    m.service["metadata"].value("name", "") +
                    "; Umbra does not change the routing it has (Istio does not merge two "
                    "VirtualServices of one host)");
      }
    }
  }
  auto policy = client.get(kube::resources::networkPolicies(),
                           {ns, placement::shadowEgressPolicyName(q.scope.name)});
  if (!policy.ok() && !policy.error().is(ErrorKind::NotFound))
    return policy.error().wrap("while reading the shadows' NetworkPolicy");
  m.egressPolicy = policy.ok() && ours(*policy, q.scope);
  return m;
}

Status applyMirrorObjects(kube::KubeClient& client, const std::string& ns,
                          const std::vector<Json>& objects) {
  for (const auto& o : objects) {
    const std::string kind = o.value("kind", "");
    const kube::ResourceType& type = kind == "Service"         ? kube::resources::services()
                                     : kind == "NetworkPolicy" ? kube::resources::networkPolicies()
                                                               : api::virtualServices();
    kube::WriteOptions apply;
    apply.force = true;  // the fields are Umbra's: take them back from an earlier manager
    const std::string name = o["metadata"].value("name", "");
    auto r = client.patch(type, {ns, name}, kube::PatchType::Apply, o, apply);
    if (!r.ok())
      return r.error().wrap("while applying " + kind + " " + ns + "/" + name + " for mirroring");
  }
  return okStatus();
}

Result<MirrorView> WorldReader::mirrorView(const PlacementInput& in,
                                           const TargetView& target) const {
  MirrorQuery q;
  q.scope = placement::placementMirrorScope(in.object);
  q.service = in.settings->mirroring.service;
  q.serviceField = "spec.shadow.mirroring.service";
  q.targetName = std::string(api::toString(in.settings->targetKind)) + " " + in.ns + "/" +
                 in.settings->targetName;
  q.targetExists = target.vmiExists;
  q.targetPhase = target.vmiPhase;
  q.targetLabels = target.labels;
  return readMirrorView(client_, q);
}

}  // namespace umbra::controller
