#include "controller/object_fields.h"

#include "kube_core/quantity.h"

namespace umbra::controller::fields {

using kube::Json;

int intOf(const Json& o, const char* key, int fallback) {
  const auto it = o.find(key);
  return it != o.end() && it->is_number_integer() ? it->get<int>() : fallback;
}

double bytesOf(const Json& o, const char* key) {
  const auto it = o.find(key);
  if (it == o.end() || !it->is_string())
    return 0;
  return kube::parseQuantity(it->get<std::string>()).value_or(0);
}

bool conditionTrue(const Json& o, const std::string& type) {
  for (const auto& c : o.value("status", Json::object()).value("conditions", Json::array()))
    if (c.value("type", "") == type && c.value("status", "") == "True")
      return true;
  return false;
}

std::string conditionMessage(const Json& o, const std::string& type, const std::string& status) {
  for (const auto& c : o.value("status", Json::object()).value("conditions", Json::array()))
    if (c.value("type", "") == type && c.value("status", "") == status)
      return c.value("message", c.value("reason", type));
  return "";
}

bool ownedBy(const Json& o, const std::string& uid) {
  for (const auto& r : o["metadata"].value("ownerReferences", Json::array()))
    if (r.value("uid", "") == uid && r.value("controller", false))
      return true;
  return false;
}

}  // namespace umbra::controller::fields
