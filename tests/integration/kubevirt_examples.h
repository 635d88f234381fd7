#pragma once

// KubeVirt's own example manifests (testdata/kubevirt-examples, Apache-2.0) as JSON objects.
#include <string>

#include <yaml-cpp/yaml.h>

#include "harness/control_plane.h"
#include "kube_core/object.h"

namespace umbra::testing {

// YAML to JSON as the API server reads a manifest: plain scalars that are integers or booleans
// become numbers and booleans, everything else (quoted or not) a string.
inline kube::Json yamlToJson(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      kube::Json o = kube::Json::object();
      for (const auto& kv : n)
        o[kv.first.as<std::string>()] = yamlToJson(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      kube::Json a = kube::Json::array();
      for (const auto& v : n)
        a.push_back(yamlToJson(v));
      return a;
    }
    case YAML::NodeType::Scalar: {
      const std::string s = n.Scalar();
      if (n.Tag() != "!") {
        if (s == "true" || s == "false")
          return s == "true";
        if (!s.empty() && s.find_first_not_of("-0123456789") == std::string::npos)
          return std::stoll(s);
      }
      return s;
    }
    default: return nullptr;
  }
}

inline kube::Json kubevirtExample(const std::string& file) {
  return yamlToJson(YAML::LoadFile(ControlPlane::sourceDir() +
                                   "/tests/integration/testdata/kubevirt-examples/" + file));
}

// A halted VirtualMachine running the VMI spec of a KubeVirt VMI example.
inline kube::Json vmFromVmiExample(const std::string& file, const std::string& name) {
  const kube::Json vmi = kubevirtExample(file);
  return {{"apiVersion", "kubevirt.io/v1"},
          {"kind", "VirtualMachine"},
          {"metadata", {{"name", name}}},
          {"spec", {{"runStrategy", "Halted"}, {"template", {{"spec", vmi["spec"]}}}}}};
}

}  // namespace umbra::testing
