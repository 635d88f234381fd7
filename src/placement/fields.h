#pragma once

// Internal to src/placement: reading fields of Kubernetes objects for requirements and nodes.
#include <string>

#include "common/result.h"
#include "kube_core/quantity.h"
#include "placement/candidates.h"

namespace umbra::placement::fields {

inline Error terminal(const std::string& field, const std::string& what) {
  return Error::make(ErrorKind::Terminal, field + ": " + what);
}

inline Result<double> quantityAt(const Json& obj, const char* key, const std::string& field) {
  const auto it = obj.find(key);
  if (it == obj.end()) {
    return 0.0;
  }
  const std::string text = it->is_string() ? it->get<std::string>() : it->dump();
  const auto q = kube::parseQuantity(text);
  if (!q) {
    return terminal(field, "\"" + text + "\" is not a quantity");
  }
  return *q;
}

inline const Json& at(const Json& obj, const char* key) {
  static const Json empty = Json::object();
  const auto it = obj.find(key);
  return it != obj.end() && it->is_object() ? *it : empty;
}

}  // namespace umbra::placement::fields
