#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/result.h"
#include "kube/client.h"

namespace umbra::testing {

// Plays the parts of KubeVirt and the kubelet that the reconciler's tests need, against the real
// API server: Node objects, and VMIs brought to Running on the node their nodeSelector names
// (virt-controller + virt-handler). A test helper until umbra-sim covers it.
class KubeVirtStandIn {
 public:
  explicit KubeVirtStandIn(kube::KubeClient& client) : client_(client) {}
  ~KubeVirtStandIn();  // deletes the nodes it created

  // A Ready, kubevirt.io/schedulable node with the given allocatable CPU and memory and labels.
  Status createNode(const std::string& name, const std::string& cpu, const std::string& memory,
                    const std::map<std::string, std::string>& labels);
  // Every VMI in `ns` without a phase becomes Running on its kubernetes.io/hostname selector.
  // @return how many it started.
  Result<int> runPendingVmis(const std::string& ns);
  // A VMI already Running on `node` (as if started earlier).
  Status createRunningVmi(const std::string& ns, const std::string& name, const std::string& node,
                          const kube::Json& spec);

 private:
  kube::KubeClient& client_;
  std::vector<std::string> nodes_;
};

// A halted VirtualMachine with 2 vCPUs and 4Gi, as in examples/.
kube::Json haltedVm(const std::string& ns, const std::string& name);
// A ShadowPlacement restricted to nodes labelled umbra.test/group=<group>.
kube::Json placementFor(const std::string& ns, const std::string& name, const std::string& kind,
                        const std::string& target, const std::string& group, int count = 3);

}  // namespace umbra::testing
