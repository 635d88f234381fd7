#pragma once

// What one pass of a RebalancePolicy knows: the policy as read (RebalanceInput) and a snapshot of
// its VMs, their hosts' telemetry and forecasts, the migrations and its companions
// (RebalanceWorld). Plain values: planRebalance() decides on them with no I/O.
#include <optional>
#include <string>
#include <vector>

#include "api/rebalance_policy.h"
#include "common/clock.h"
#include "controller/object_input.h"
#include "kube_core/object.h"
#include "rebalance/rebalance.h"

namespace umbra::controller {

using RebalanceInput = ObjectInput<api::RebalanceSpec, api::RebalanceStatus>;

// A selected VM and its VMI.
struct RebalanceVm {
  rebalance::Vm vm;  // id = the VM's name; host "" when it does not run
  bool running = false;
  kube::Json vmiSpec;  // what a companion copies (its image, its size)
  // Why it stays in place ("" when it may move): the pinned reason and message.
  std::string pinnedReason, pinnedMessage;
};

// A VirtualMachineInstanceMigration in the policy's namespace.
struct RebalanceMigration {
  std::string name, vm, phase;
  bool ours = false;  // labelled and controlled by this policy
  std::string from, to, reason, failure;
  std::optional<SystemTime> created, finished;
  bool finishedPhase() const { return phase == "Succeeded" || phase == "Failed"; }
};

struct RebalanceCompanion {
  std::string name, vm, node;
  bool deleting = false;
  std::optional<SystemTime> created;
};

struct RebalanceWorld {
  // Every schedulable node the VMs could use, with its telemetry and forecasts; the VMs' hosts
  // first. Empty with metricsProblem set when Prometheus could not be read.
  std::vector<rebalance::Host> hosts;
  std::string metricsProblem;
  std::vector<RebalanceVm> vms;  // by name
  std::vector<RebalanceMigration> migrations;
  std::vector<RebalanceCompanion> companions;
};

}  // namespace umbra::controller
