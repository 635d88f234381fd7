#pragma once

// fidelity Mirror (docs/mirroring.md): the objects through which the service mesh (Istio) copies
// a share of a running target's requests to each shadow, as pure functions of the placement, the
// target's Service and the shadows. Every object is labelled umbra.io/placement and
// umbra.io/role=mirror and owned by the shadow VMIs it serves (not as controller), so that the
// garbage collector removes it with the last of them whatever happens to the operator. An
// InstancetypeTrial's objects are the same, labelled umbra.io/trial (MirrorScope).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace umbra::placement {

using Json = nlohmann::json;

inline constexpr const char* MirrorRole = "mirror";  // umbra.io/role of the mirroring objects

// A shadow VMI as the mirroring objects refer to it.
struct MirroredShadow {
  std::string name;  // the VMI's (and its Service's) name
  std::string uid;   // the VMI's, for the ownerReferences
  std::string node;  // the value of its label `key`, which tells it from its siblings
  std::string key = "umbra.io/node";  // a placement's shadows differ by node, a trial's by type
};

// Whose shadows are mirrored: a ShadowPlacement's or an InstancetypeTrial's. Its objects are named
// after `name` in `ns`; `labels` (umbra.io/placement or umbra.io/trial) mark them and, with
// umbra.io/role=shadow, select the shadows.
struct MirrorScope {
  std::string ns, name;
  Json labels = Json::object();
};
// A ShadowPlacement's scope: {umbra.io/placement: <its label value>}.
MirrorScope placementMirrorScope(const Json& placement);

// True when a Service selector (spec.selector) is non-empty and every pair is in `labels`.
bool selectorMatches(const Json& selector, const Json& labels);

// The VirtualService that mirrors `targetService`'s requests: `<placement>-mirror`.
std::string mirrorVirtualServiceName(const std::string& placement);
// The NetworkPolicy fencing the placement's shadows: `<placement>-shadow-egress`.
std::string shadowEgressPolicyName(const std::string& placement);

// A shadow's Service: named as the shadow, selecting its virt-launcher pod (the shadow's
// umbra.io/placement, umbra.io/role=shadow and umbra.io/node labels, which KubeVirt copies to the
// pod), with the target Service's ports.
Json buildShadowService(const MirrorScope& scope, const Json& targetService,
                        const MirroredShadow& shadow);

// An Istio VirtualService (networking.istio.io/v1) for the target Service's host: every request
// still goes to the target (route 100 %), and `percentage` of them is copied to each shadow's
// Service (`mirrors`, fire and forget: Istio discards the mirror's responses).
Json buildMirrorVirtualService(const MirrorScope& scope, const Json& targetService,
                               const std::vector<MirroredShadow>& shadows, double percentage);

// A NetworkPolicy for the placement's shadow pods: egress only to DNS (port 53) and to the mesh's
// control plane (istiod's xDS and certificate port 15012 in `meshNamespace`), so that a mirrored
// write never reaches the target's downstream services. Ingress is left as it is (the mirrored
// requests come in).
Json buildShadowEgressPolicy(const MirrorScope& scope, const std::vector<MirroredShadow>& shadows,
                             const std::string& meshNamespace);

// The hosts a VirtualService's HTTP routes mirror to (mirrors[].destination.host and the older
// mirror.host), sorted: what the placement compares with its shadows' Services.
std::vector<std::string> mirroredHosts(const Json& virtualService);
// True when the VirtualService routes `host` (a Service in `ns`): its hosts name it short,
// namespaced or fully qualified.
bool routesHost(const Json& virtualService, const std::string& host, const std::string& ns);

}  // namespace umbra::placement
