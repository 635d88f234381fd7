#pragma once

// Device selectors of Dynamic Resource Allocation (resource.k8s.io/v1 CELDeviceSelector): the CEL
// subset that DeviceClasses and claim requests use in practice, evaluated on one device.
//
// Supported: `device.driver`, `device.attributes["<domain>"].<name>` (also `["<name>"]`),
// `device.capacity["<domain>"].<name>`; string, integer, float and boolean literals;
// `== != < <= > >=`, `&& || !`, parentheses, `"<name>" in device.attributes["<domain>"]`,
// `quantity("<q>")` with `.compareTo()`, `.isGreaterThan()`, `.isLessThan()`, `.asInteger()`;
// strings' `.startsWith()`, `.endsWith()`, `.contains()`.
// Anything else fails to parse, naming what is not supported: a placement is refused rather
// than guessed. As in the scheduler, `&&` and `||` are commutative about errors (false && error
// is false) and any other error (a missing attribute, a type mismatch) is an evaluation error.
#include <memory>
#include <string>

#include "common/result.h"
#include "kube_core/object.h"

namespace umbra::placement::dra {

using Json = kube::Json;

// One device of a ResourceSlice, as the selector sees it.
struct Device {
  std::string driver;
  std::string pool;
  std::string name;
  Json attributes = Json::object();  // the slice's form: {"model": {"string": "a100"}, ...}
  Json capacity = Json::object();    // {"memory": {"value": "80Gi"}, ...}
};

class Selector {
 public:
  // A parse error names the expression and the first unsupported part.
  static Result<Selector> parse(const std::string& expression);
  // true/false, or an evaluation error (which makes the scheduler's allocation attempt abort).
  Result<bool> matches(const Device& device) const;
  const std::string& text() const { return text_; }

  struct Node;

 private:
  std::shared_ptr<const Node> root_;
  std::string text_;
};

}  // namespace umbra::placement::dra
