#include "placement/mirror.h"

#include <algorithm>

#include "api/shadow_placement.h"
#include "placement/shadow.h"

namespace umbra::placement {
namespace {

// istiod's port for xDS and certificates, mTLS (Istio 1.30,
// manifests/charts/istio-control/istio-discovery/templates/service.yaml: "https-dns", 15012).
constexpr int IstiodXdsPort = 15012;

Json ownedBy(const std::vector<MirroredShadow>& shadows) {
  Json refs = Json::array();
  for (const auto& s : shadows)
    refs.push_back({{"apiVersion", "kubevirt.io/v1"},
                    {"kind", "VirtualMachineInstance"},
                    {"name", s.name},
                    {"uid", s.uid}});
  return refs;
}

Json metadata(const MirrorScope& scope, const std::string& name,
              const std::vector<MirroredShadow>& owners) {
  Json labels = scope.labels;
  labels[api::RoleLabel] = MirrorRole;
  return {{"name", name},
          {"namespace", scope.ns},
          {"labels", labels},
          {"ownerReferences", ownedBy(owners)}};
}

// The scope's labels with umbra.io/role=shadow: its shadows.
Json shadowsOf(const MirrorScope& scope) {
  Json labels = scope.labels;
  labels[api::RoleLabel] = "shadow";
  return labels;
}

// "name", "name.ns", "name.ns.svc", "name.ns.svc.<domain>"
bool namesHost(const std::string& h, const std::string& host, const std::string& ns) {
  return h == host || h == host + "." + ns || h.rfind(host + "." + ns + ".svc", 0) == 0;
}

}  // namespace

bool selectorMatches(const Json& selector, const Json& labels) {
  if (!selector.is_object() || selector.empty() || !labels.is_object())
    return false;
  for (const auto& [k, v] : selector.items()) {
    if (!labels.contains(k) || labels[k] != v)
      return false;
  }
  return true;
}

MirrorScope placementMirrorScope(const Json& placement) {
  const Json& meta = placement.at("metadata");
  return {meta.value("namespace", ""),
          meta.value("name", ""),
          {{api::PlacementLabel, placementLabelValue(meta.value("name", ""))}}};
}

std::string mirrorVirtualServiceName(const std::string& placement) {
  return placementLabelValue(placement + "-mirror");  // at most 63 characters
}

std::string shadowEgressPolicyName(const std::string& placement) {
  return placementLabelValue(placement + "-shadow-egress");
}

Json buildShadowService(const MirrorScope& scope, const Json& targetService,
                        const MirroredShadow& shadow) {
  Json ports = Json::array();
  for (const auto& p : targetService["spec"].value("ports", Json::array())) {
    Json port;
    for (const char* key : {"name", "port", "targetPort", "protocol", "appProtocol"}) {
      if (p.contains(key))
        port[key] = p[key];
    }
    ports.push_back(port);
  }
  Json selector = shadowsOf(scope);
  selector[shadow.key] = shadow.node;
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", metadata(scope, shadow.name, {shadow})},
          {"spec", {{"selector", selector}, {"ports", ports}}}};
}

Json buildMirrorVirtualService(const MirrorScope& scope, const Json& targetService,
                               const std::vector<MirroredShadow>& shadows, double percentage) {
  const std::string host = targetService["metadata"].value("name", "");
  Json mirrors = Json::array();
  for (const auto& s : shadows)
    mirrors.push_back(
        {{"destination", {{"host", s.name}}}, {"percentage", {{"value", percentage}}}});
  return {{"apiVersion", "networking.istio.io/v1"},
          {"kind", "VirtualService"},
          {"metadata", metadata(scope, mirrorVirtualServiceName(scope.name), shadows)},
          {"spec",
           {{"hosts", Json::array({host})},
            {"http", Json::array({{{"name", "umbra-mirror"},
                                   {"route", Json::array({{{"destination", {{"host", host}}}}})},
                                   {"mirrors", mirrors}}})}}}};
}

Json buildShadowEgressPolicy(const MirrorScope& scope, const std::vector<MirroredShadow>& shadows,
                             const std::string& meshNamespace) {
  const Json dns =
      Json::array({{{"protocol", "UDP"}, {"port", 53}}, {{"protocol", "TCP"}, {"port", 53}}});
  const Json istiod = {
      {"to", Json::array({{{"namespaceSelector",
                            {{"matchLabels", {{"kubernetes.io/metadata.name", meshNamespace}}}}},
                           {"podSelector", {{"matchLabels", {{"app", "istiod"}}}}}}})},
      {"ports", Json::array({{{"protocol", "TCP"}, {"port", IstiodXdsPort}}})}};
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "NetworkPolicy"},
          {"metadata", metadata(scope, shadowEgressPolicyName(scope.name), shadows)},
          {"spec",
           {{"podSelector", {{"matchLabels", shadowsOf(scope)}}},
            {"policyTypes", Json::array({"Egress"})},
            {"egress", Json::array({{{"ports", dns}}, istiod})}}}};
}

std::vector<std::string> mirroredHosts(const Json& virtualService) {
  std::vector<std::string> hosts;
  for (const auto& route : virtualService["spec"].value("http", Json::array())) {
    for (const auto& m : route.value("mirrors", Json::array()))
      hosts.push_back(m.value("destination", Json::object()).value("host", ""));
    if (route.contains("mirror"))
      hosts.push_back(route["mirror"].value("host", ""));
  }
  std::sort(hosts.begin(), hosts.end());
  return hosts;
}

bool routesHost(const Json& virtualService, const std::string& host, const std::string& ns) {
  for (const auto& h : virtualService["spec"].value("hosts", Json::array())) {
    if (h.is_string() && namesHost(h.get<std::string>(), host, ns))
      return true;
  }
  return false;
}

}  // namespace umbra::placement
