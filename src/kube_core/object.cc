#include "kube_core/object.h"

namespace umbra::kube {

std::string keyOf(const std::string& ns, const std::string& name) {
  return ns.empty() ? name : ns + "/" + name;
}

std::string keyOf(const Json& obj) {
  const auto& meta = obj.at("metadata");
  return keyOf(meta.value("namespace", ""), meta.value("name", ""));
}

}  // namespace umbra::kube
