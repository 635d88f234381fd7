#pragma once

// Small readers of KubeVirt objects shared by the controllers.
#include <string>

#include "kube_core/object.h"

namespace umbra::controller::fields {

// o[key] as an integer; `fallback` when absent or not one.
int intOf(const kube::Json& o, const char* key, int fallback);
// o[key] as a quantity in bytes ("2Gi"); 0 when absent or not one.
double bytesOf(const kube::Json& o, const char* key);
// The object's status condition `type` is True.
bool conditionTrue(const kube::Json& o, const std::string& type);
// The message (else the reason, else the type) of condition `type` with `status`; "" if none.
std::string conditionMessage(const kube::Json& o, const std::string& type,
                             const std::string& status);
// The object's controller ownerReference has `uid`.
bool ownedBy(const kube::Json& o, const std::string& uid);

}  // namespace umbra::controller::fields
