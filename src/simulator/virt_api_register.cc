// umbra-sim's virt-api: what it publishes (discovery documents, the Service and APIServices it
// registers as virt-operator does) and what it reads (the front proxy's settings).
#include "common/base64.h"
#include "common/log.h"
#include "kube_core/resource.h"
#include "simulator/virt_api_handlers.h"
#include "simulator/virt_api_internal.h"

namespace umbra::simulator {

using kube::Json;

namespace virt_api_detail {

using kube::resources::apiServices;
using kube::resources::services;

const std::vector<std::string>& versions() {
  static const std::vector<std::string> v = {"v1", "v1alpha3"};
  return v;
}

static Result<std::vector<std::string>> stringList(const Json& data, const std::string& key) {
  if (!data.contains(key))
    return std::vector<std::string>{};
  const Json parsed = Json::parse(data[key].get<std::string>(), nullptr, false);
  if (!parsed.is_array())
    return Error::make(ErrorKind::Config,
                       "ConfigMap kube-system/extension-apiserver-"
                       "authentication: " +
                           key + " is not a JSON list");
  std::vector<std::string> out;
  for (const auto& v : parsed)
    if (v.is_string())
      out.push_back(v);
  return out;
}

// Discovery documents, served without authentication as virt-api serves them.
std::optional<Json> discovery(const std::string& path) {
  Json groupVersions = Json::array();
  for (const auto& v : versions())
    groupVersions.push_back(
        {{"groupVersion", std::string(SubresourceGroup) + "/" + v}, {"version", v}});
  const Json group = {{"name", SubresourceGroup},
                      {"versions", groupVersions},
                      {"preferredVersion", groupVersions[0]}};
  if (path == "/apis")
    return Json{{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", Json::array({group})}};
  if (path == std::string("/apis/") + SubresourceGroup) {
    Json doc = group;
    doc["kind"] = "APIGroup";
    doc["apiVersion"] = "v1";
    return doc;
  }
  for (const auto& v : versions()) {
    if (path != std::string("/apis/") + SubresourceGroup + "/" + v)
      continue;
    Json resources = Json::array();
    for (const char* s : {"start", "stop", "restart", "migrate"})
      resources.push_back({{"name", std::string("virtualmachines/") + s},
                           {"singularName", ""},
                           {"namespaced", true},
                           {"kind", "VirtualMachine"},
                           {"verbs", Json::array({"update"})}});
    for (const char* s : {"pause", "unpause"})
      resources.push_back({{"name", std::string("virtualmachineinstances/") + s},
                           {"singularName", ""},
                           {"namespaced", true},
                           {"kind", "VirtualMachineInstance"},
                           {"verbs", Json::array({"update"})}});
    return Json{{"kind", "APIResourceList"},
                {"apiVersion", "v1"},
                {"groupVersion", std::string(SubresourceGroup) + "/" + v},
                {"resources", resources}};
  }
  if (path == "/")
    return Json{{"paths", Json::array({"/apis", std::string("/apis/") + SubresourceGroup,
                                       std::string("/apis/") + SubresourceGroup + "/v1",
                                       std::string("/apis/") + SubresourceGroup + "/v1alpha3",
                                       "/openapi/v2", "/openapi/v3"})}};
  // The aggregator merges every backend's OpenAPI; the subresources need no schema.
  if (path == "/openapi/v2")
    return Json{{"swagger", "2.0"},
                {"info", {{"title", "KubeVirt API (umbra-sim)"}, {"version", "v1"}}},
                {"paths", Json::object()}};
  if (path == "/openapi/v3")
    return Json{{"paths", Json::object()}};
  return std::nullopt;
}

Status upsert(kube::KubeClient& client, const kube::ResourceType& type, const std::string& ns,
              Json obj) {
  auto created = client.create(type, ns, obj);
  if (created.ok())
    return {};
  if (!created.error().is(ErrorKind::AlreadyExists))
    return created.error();
  auto current = client.get(type, {ns, obj["metadata"].value("name", "")});
  if (!current.ok())
    return current.error();
  obj["metadata"]["resourceVersion"] = (*current)["metadata"].value("resourceVersion", "");
  auto updated = client.update(type, obj);
  return updated.ok() ? Status() : Status(updated.error());
}

Status registerApi(kube::KubeClient& client, const VirtApiOptions& options, uint16_t port,
                   const std::string& caPem) {
  const Json labels = {{"app.kubernetes.io/managed-by", "umbra-sim"},
                       {"app.kubernetes.io/component", "virt-api"}};
  auto ns = client.create(kube::resources::namespaces(), "",
                          {{"apiVersion", "v1"},
                           {"kind", "Namespace"},
                           {"metadata", {{"name", options.serviceNamespace}}}});
  if (!ns.ok() && !ns.error().is(ErrorKind::AlreadyExists))
    return ns.error().wrap("namespace " + options.serviceNamespace);
  // kube-apiserver runs on this host without kube-proxy: an ExternalName Service on localhost
  // reaches us (API-NOTES section 13, wiring b); the port is the APIService's.
  const Json service = {
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata",
       {{"name", options.serviceName},
        {"namespace", options.serviceNamespace},
        {"labels", labels}}},
      {"spec",
       {{"type", "ExternalName"},
        {"externalName", "localhost"},
        {"ports", Json::array({{{"name", "https"}, {"port", port}, {"protocol", "TCP"}}})}}}};
  if (Status s = upsert(client, services(), options.serviceNamespace, service); !s.ok())
    return s.error().wrap("Service " + options.serviceNamespace + "/" + options.serviceName);
  for (const auto& v : versions()) {
    const std::string name = v + "." + SubresourceGroup;
    const Json apiService = {{"apiVersion", "apiregistration.k8s.io/v1"},
                             {"kind", "APIService"},
                             {"metadata", {{"name", name}, {"labels", labels}}},
                             {"spec",
                              {{"group", SubresourceGroup},
                               {"version", v},
                               {"groupPriorityMinimum", 1000},
                               {"versionPriority", 15},
                               {"caBundle", base64Encode(caPem)},
                               {"service",
                                {{"namespace", options.serviceNamespace},
                                 {"name", options.serviceName},
                                 {"port", port}}}}}};
    if (Status s = upsert(client, apiServices(), "", apiService); !s.ok())
      return s.error().wrap("APIService " + name);
  }
  return {};
}

void unregisterApi(kube::KubeClient& client, const VirtApiOptions& options) {
  for (const auto& v : versions()) {
    auto r = client.remove(apiServices(), {"", v + "." + SubresourceGroup}, {});
    if (!r.ok() && !r.error().is(ErrorKind::NotFound))
      log::warn("cannot remove APIService",
                {{"name", v + "." + SubresourceGroup}, {"error", r.error().describe()}});
  }
  auto r = client.remove(services(), {options.serviceNamespace, options.serviceName}, {});
  if (!r.ok() && !r.error().is(ErrorKind::NotFound))
    log::warn("cannot remove the virt-api Service", {{"error", r.error().describe()}});
}

}  // namespace virt_api_detail

using namespace virt_api_detail;

Result<RequestHeaderAuth> requestHeaderAuthFrom(const Json& configMap) {
  const Json data = configMap.value("data", Json::object());
  const std::string where = "ConfigMap kube-system/extension-apiserver-authentication";
  if (!data.contains("requestheader-client-ca-file"))
    return Error::make(ErrorKind::Config,
                       where +
                           " has no requestheader-client-ca-file: kube-apiserver runs "
                           "without the aggregation layer (--requestheader-client-ca-file, "
                           "--proxy-client-cert-file; scripts/local-cluster.sh sets them)");
  RequestHeaderAuth auth;
  auth.clientCaPem = data["requestheader-client-ca-file"].get<std::string>();
  auto allowed = stringList(data, "requestheader-allowed-names");
  auto users = stringList(data, "requestheader-username-headers");
  auto groups = stringList(data, "requestheader-group-headers");
  auto prefixes = stringList(data, "requestheader-extra-headers-prefix");
  for (const auto* r : {&allowed, &users, &groups, &prefixes})
    if (!r->ok())
      return r->error();
  auth.allowedNames = *allowed;
  auth.usernameHeaders = *users;
  auth.groupHeaders = *groups;
  if (!prefixes->empty())
    auth.extraHeadersPrefix = prefixes->front();
  if (auth.usernameHeaders.empty())
    return Error::make(ErrorKind::Config, where + " names no requestheader-username-headers");
  return auth;
}

}  // namespace umbra::simulator
