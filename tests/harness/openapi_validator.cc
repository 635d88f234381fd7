#include "harness/openapi_validator.h"

#include <fstream>

namespace umbra::testing {

using nlohmann::json;

Result<KubeVirtSchema> KubeVirtSchema::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return Error::config(path + ": cannot open");
  }
  const json swagger = json::parse(in, nullptr, false);
  if (swagger.is_discarded() || !swagger.contains("definitions")) {
    return Error::config(path + ": not a swagger document with definitions");
  }
  KubeVirtSchema s;
  s.definitions_ = swagger["definitions"];
  return s;
}

namespace {

bool hasType(const json& value, const std::string& type) {
  if (type == "object")
    return value.is_object();
  if (type == "array")
    return value.is_array();
  if (type == "string")
    return value.is_string();
  if (type == "integer")
    return value.is_number_integer();
  if (type == "number")
    return value.is_number();
  if (type == "boolean")
    return value.is_boolean();
  return true;
}

}  // namespace

void KubeVirtSchema::check(const json& value, const json& schema, const std::string& path,
                           bool closed, std::vector<std::string>& errors) const {
  if (schema.contains("$ref")) {
    const std::string ref = schema["$ref"].get<std::string>();
    const std::string name = ref.substr(ref.rfind('/') + 1);
    if (!definitions_.contains(name)) {
      errors.push_back(path + ": unknown $ref " + ref);
      return;
    }
    check(value, definitions_[name], path, closed, errors);
    return;
  }
  if (value.is_null() && schema.value("nullable", false)) {
    return;
  }
  if (schema.value("format", "") == "int-or-string") {
    if (!value.is_string() && !value.is_number_integer()) {
      errors.push_back(path + ": must be an integer or a string");
    }
    return;
  }
  if (schema.contains("type")) {
    const json& t = schema["type"];
    bool ok = false;
    if (t.is_array()) {
      for (const auto& one : t)
        ok = ok || hasType(value, one.get<std::string>());
    } else {
      ok = hasType(value, t.get<std::string>());
    }
    if (!ok) {
      errors.push_back(path + ": must be of type " + t.dump() + ", got " + value.dump());
      return;
    }
  }
  if (schema.contains("enum")) {
    bool found = false;
    for (const auto& e : schema["enum"])
      found = found || e == value;
    if (!found) {
      errors.push_back(path + ": " + value.dump() + " is not one of " + schema["enum"].dump());
    }
  }
  if (value.is_object()) {
    for (const auto& r : schema.value("required", json::array())) {
      if (!value.contains(r.get<std::string>())) {
        errors.push_back(path + "." + r.get<std::string>() + ": required");
      }
    }
    const json props = schema.value("properties", json::object());
    for (const auto& [k, v] : value.items()) {
      if (props.contains(k)) {
        check(v, props[k], path + "." + k, closed, errors);
      } else if (schema.contains("additionalProperties") &&
                 schema["additionalProperties"].is_object()) {
        check(v, schema["additionalProperties"], path + "." + k, closed, errors);
      } else if (closed && !props.empty()) {
        errors.push_back(path + "." + k + ": unknown field");
      }
    }
  }
  if (value.is_array() && schema.contains("items")) {
    for (size_t i = 0; i < value.size(); ++i) {
      check(value[i], schema["items"], path + "[" + std::to_string(i) + "]", closed, errors);
    }
  }
}

std::vector<std::string> KubeVirtSchema::validate(const json& object) const {
  std::vector<std::string> errors;
  if (!object.is_object()) {
    return {"(root): not an object"};
  }
  for (const auto& [k, v] : object.items()) {
    if (k != "kind" && k != "apiVersion" && k != "spec" && k != "status" && k != "metadata") {
      errors.push_back(k + ": unknown top-level field");
    }
  }
  const std::string kind = object.value("kind", "");
  if (!object.contains("spec")) {
    errors.push_back("spec: required");
    return errors;
  }
  const std::string specDef = "v1." + kind + "Spec";
  if (!definitions_.contains(specDef)) {
    errors.push_back("kind: no definition " + specDef);
    return errors;
  }
  check(object["spec"], definitions_[specDef], "spec", true, errors);
  if (object.contains("status") && definitions_.contains("v1." + kind + "Status")) {
    check(object["status"], definitions_["v1." + kind + "Status"], "status", false, errors);
  }
  return errors;
}

}  // namespace umbra::testing
