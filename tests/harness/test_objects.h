#pragma once

#include <string>

#include "kube/client.h"

namespace umbra::testing {

// A halted VirtualMachine with 2 vCPUs and 4Gi, as in examples/.
kube::Json haltedVm(const std::string& ns, const std::string& name);
// A ShadowPlacement restricted to nodes labelled umbra.test/group=<group> (10 s observation).
kube::Json placementFor(const std::string& ns, const std::string& name, const std::string& kind,
                        const std::string& target, const std::string& group, int count = 3);

}  // namespace umbra::testing
