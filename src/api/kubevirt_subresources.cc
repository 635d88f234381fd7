#include "api/kubevirt_subresources.h"

#include <nlohmann/json.hpp>

namespace umbra::api {

namespace {

kube::HttpRequest put(const std::string& resource, const std::string& ns, const std::string& name,
                      const std::string& subresource, const nlohmann::json& body) {
  const kube::ResourceType type{SubresourceGroup, "v1", resource, "", true};
  kube::HttpRequest r;
  r.method = "PUT";
  r.path = kube::objectPath(type, ns, name, subresource);
  r.body = body.dump();
  r.contentType = "application/json";
  return r;
}

}  // namespace

kube::HttpRequest pauseVmi(const std::string& ns, const std::string& name) {
  return put("virtualmachineinstances", ns, name, "pause", nlohmann::json::object());
}

kube::HttpRequest unpauseVmi(const std::string& ns, const std::string& name) {
  return put("virtualmachineinstances", ns, name, "unpause", nlohmann::json::object());
}

kube::HttpRequest startVm(const std::string& ns, const std::string& name, bool paused) {
  nlohmann::json body = nlohmann::json::object();
  if (paused)
    body["paused"] = true;
  return put("virtualmachines", ns, name, "start", body);
}

kube::HttpRequest stopVm(const std::string& ns, const std::string& name) {
  return put("virtualmachines", ns, name, "stop", nlohmann::json::object());
}

kube::HttpRequest migrateVm(const std::string& ns, const std::string& name,
                            const std::map<std::string, std::string>& addedNodeSelector) {
  nlohmann::json body = nlohmann::json::object();
  if (!addedNodeSelector.empty())
    body["addedNodeSelector"] = addedNodeSelector;
  return put("virtualmachines", ns, name, "migrate", body);
}

}  // namespace umbra::api
