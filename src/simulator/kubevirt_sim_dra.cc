// The kube-scheduler (schedule(): node affinity, resources, taints, preferred affinity; its DRA
// plugin) and kube-controller-manager's resourceclaim controller, as far as a VMI needs them: a VMI
// with resource claims is scheduled only where its devices are free, and its claims are allocated
// there (a claim template becomes a ResourceClaim owned by the VMI, deleted with it by the garbage
// collector). A named claim keeps its allocation after the VMI is gone (the real controller would
// release it once nothing reserves it).
#include "placement/dra.h"
#include "simulator/kubevirt_sim.h"
#include "simulator/kubevirt_sim_internal.h"

namespace umbra::simulator {

using namespace sim_detail;
namespace dra = placement::dra;

Result<std::shared_ptr<const dra::Needs>> KubeVirtSimulator::draNeeds(const Json& vmi) const {
  const dra::Source api{
      [this](const kube::ResourceType& t, const std::string& ns, const std::string& name) {
        return client_.get(t, {ns, name});
      },
      [this](const kube::ResourceType& t) { return kube::listAll(client_, t, "", {}); }};
  return dra::needsOf(vmi.value("spec", Json::object()), vmi["metadata"].value("namespace", ""),
                      api);
}

Status KubeVirtSimulator::allocateClaims(const Json& vmi, const placement::NodeView& node,
                                         const dra::Needs& needs) {
  std::map<std::string, std::vector<dra::Device>> chosen;
  const std::string why = dra::shortfall(needs, node, &chosen);
  if (!why.empty())
    return Error::make(ErrorKind::Conflict, why);
  const Json meta = vmi["metadata"];
  const std::string ns = meta.value("namespace", "");
  const Json entries = vmi["spec"].value("resourceClaims", Json::array());
  for (size_t i = 0; i < entries.size() && i < needs.claims.size(); ++i) {
    const dra::Claim& claim = needs.claims[i];
    if (claim.allocatedNodeSelector)
      continue;  // already allocated, to devices this node reaches
    std::string name = entries[i].value("resourceClaimName", "");
    if (name.empty()) {
      // From the template: a claim owned by the VMI (in KubeVirt, by its virt-launcher pod).
      auto tmpl = client_.get(kube::resources::resourceClaimTemplates(),
                              {ns, entries[i].value("resourceClaimTemplateName", "")});
      if (!tmpl.ok())
        return tmpl.error();
      name = meta.value("name", "") + "-" + claim.name;
      const Json obj = {{"apiVersion", "resource.k8s.io/v1"},
                        {"kind", "ResourceClaim"},
                        {"metadata",
                         {{"name", name},
                          {"namespace", ns},
                          {"ownerReferences", Json::array({{{"apiVersion", "kubevirt.io/v1"},
                                                            {"kind", "VirtualMachineInstance"},
                                                            {"name", meta.value("name", "")},
                                                            {"uid", meta.value("uid", "")},
                                                            {"controller", true}}})}}},
                        {"spec", (*tmpl)["spec"].value("spec", Json::object())}};
      auto created = client_.create(kube::resources::resourceClaims(), ns, obj);
      if (!created.ok() && !created.error().is(ErrorKind::AlreadyExists))
        return created.error();
    }
    Json results = Json::array();
    const std::string prefix = claim.name + "\n";
    for (const auto& [key, devices] : chosen) {
      if (key.rfind(prefix, 0) != 0)
        continue;
      for (const auto& d : devices)
        results.push_back({{"request", key.substr(prefix.size())},
                           {"driver", d.driver},
                           {"pool", d.pool},
                           {"device", d.name}});
    }
    const Json status = {
        {"status",
         {{"allocation",
           {{"devices", {{"results", results}}},
            {"nodeSelector",
             {{"nodeSelectorTerms",
               Json::array({{{"matchFields", Json::array({{{"key", "metadata.name"},
                                                           {"operator", "In"},
                                                           {"values", {node.name}}}})}}})}}}}},
          {"reservedFor", Json::array({{{"apiGroup", "kubevirt.io"},
                                        {"resource", "virtualmachineinstances"},
                                        {"name", meta.value("name", "")},
                                        {"uid", meta.value("uid", "")}}})}}}};
    auto r = client_.patch(kube::resources::resourceClaims(), {ns, name}, kube::PatchType::Merge,
                           status, {}, "status");
    if (!r.ok())
      return Error::make(r.error().kind,
                         "ResourceClaim " + ns + "/" + name + ": " + r.error().message);
    log::info("resource claim allocated", {{"claim", ns + "/" + name},
                                           {"node", node.name},
                                           {"devices", std::to_string(results.size())}});
  }
  return okStatus();
}

Result<std::string> KubeVirtSimulator::schedule(const Json& vmiSpec,
                                                std::vector<placement::NodeView>& views,
                                                const std::map<std::string, std::string>& extra,
                                                const std::string& avoidNode,
                                                std::shared_ptr<const placement::dra::Needs> dra) {
  auto req = placement::requirementsOf(vmiSpec);
  if (!req.ok())
    return req.error();
  req->dra = std::move(dra);
  auto verdicts = placement::classify(views, *req, extra);
  // Preferred node affinity: the feasible node with the most preference weight goes first
  // (kube-scheduler's NodeAffinity score outweighs its resource score at weight 100).
  const Json preferred =
      vmiSpec.value("affinity", Json::object())
          .value("nodeAffinity", Json::object())
          .value("preferredDuringSchedulingIgnoredDuringExecution", Json::array());
  if (!preferred.empty()) {
    std::map<std::string, int> weight;
    for (const auto& view : views) {
      for (const auto& term : preferred) {
        if (placement::matchesNodeSelectorTerm(term.value("preference", Json::object()), view))
          weight[view.name] += term.value("weight", 0);
      }
    }
    std::stable_sort(verdicts.begin(), verdicts.end(), [&](const auto& a, const auto& b) {
      if (a.feasible != b.feasible)
        return a.feasible;
      return a.feasible && weight[a.node] > weight[b.node];
    });
  }
  std::string why;
  int shown = 0;
  for (const auto& v : verdicts) {
    if (v.feasible && v.node != avoidNode) {
      // Assume it, as the kube-scheduler does: later VMIs of the same round see its requests
      // before the cache does.
      for (auto& view : views) {
        if (view.name == v.node)
          view.requested.add(req->requests);
      }
      return v.node;
    }
    if (shown++ < 6)
      why += (why.empty() ? "" : "; ") + v.node + ": " +
             (v.node == avoidNode ? std::string("the VMI runs there") : v.reason);
  }
  return Error::make(ErrorKind::Conflict, "0/" + std::to_string(views.size()) +
                                              " nodes are available: " + why +
                                              (verdicts.size() > 6 ? "; ..." : ""));
}

}  // namespace umbra::simulator
