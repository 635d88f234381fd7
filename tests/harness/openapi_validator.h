#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace umbra::testing {

// Validates KubeVirt objects against KubeVirt's swagger.json the way its admission webhook does
// (shared/kubevirt/README.md, pkg/util/openapi/openapi.go):
//  1. only kind, apiVersion, spec, status, metadata at the top level; spec is required;
//  2. spec against v1.<Kind>Spec with additionalProperties: false on every definition;
//  3. status against v1.<Kind>Status without that addition.
// Supports the keywords swagger.json uses: $ref, type (one or a list), properties, required,
// items, additionalProperties, enum, format int-or-string, nullable.
class KubeVirtSchema {
 public:
  static Result<KubeVirtSchema> load(const std::string& swaggerPath);
  // Empty when valid; otherwise one "path: problem" line per violation.
  std::vector<std::string> validate(const nlohmann::json& object) const;

 private:
  void check(const nlohmann::json& value, const nlohmann::json& schema, const std::string& path,
             bool closed, std::vector<std::string>& errors) const;
  nlohmann::json definitions_;
};

}  // namespace umbra::testing
