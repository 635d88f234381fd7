#pragma once

// Internal to virt_api*.cc: what the server and its registration share.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kube/client.h"
#include "simulator/virt_api.h"

namespace umbra::simulator::virt_api_detail {

// The versions served: v1 and v1alpha3, as virt-api.
const std::vector<std::string>& versions();
// The discovery document for `path` (/, /apis, the group, a version, /openapi/v2|v3), if any.
std::optional<nlohmann::json> discovery(const std::string& path);
// The Namespace and Service (ExternalName localhost, `port`) and one APIService per version with
// `caPem` as caBundle: created, or updated if they exist.
Status registerApi(kube::KubeClient& client, const VirtApiOptions& options, uint16_t port,
                   const std::string& caPem);
// Removes the APIServices and the Service; logs what it cannot remove.
void unregisterApi(kube::KubeClient& client, const VirtApiOptions& options);

}  // namespace umbra::simulator::virt_api_detail
