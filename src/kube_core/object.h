#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace umbra::kube {

using Json = nlohmann::json;
// An object as the caches hold it: immutable and shared.
using ObjectPtr = std::shared_ptr<const Json>;

// "namespace/name", or "name" for cluster-scoped objects: the key of caches and work queues.
std::string keyOf(const Json& obj);
std::string keyOf(const std::string& ns, const std::string& name);

}  // namespace umbra::kube
