#pragma once

// observe -> plan -> execute for RebalancePolicies, in the shape of pool_plan.h: planRebalance()
// turns (the policy, its world, the clock) into the writes to make and the Action. No I/O: its
// decisions are table rows in tests/unit/rebalance_plan_test.cc.
#include <string>
#include <variant>
#include <vector>

#include "controller/rebalance_world.h"
#include "runtime/action.h"
#include "runtime/event_recorder.h"

namespace umbra::controller {

namespace rebalance_write {
struct CreateMigration {  // a VirtualMachineInstanceMigration (AlreadyExists: made before a
                          // restart)
  kube::Json migration;
  std::string vm;
};
struct CreateCompanion {  // a companion VMI pinned to its host (AlreadyExists: made before)
  kube::Json vmi;
};
struct DeleteCompanion {  // to re-create it elsewhere, or because its VM left the policy
  std::string name;
};
struct WriteStatus {  // a merge patch of .status, conditional on the resourceVersion read
  api::RebalanceStatus status;
};
struct PostEvent {
  runtime::EventType type;
  std::string reason, action, note;
};
}  // namespace rebalance_write

using RebalanceWrite =
    std::variant<rebalance_write::CreateMigration, rebalance_write::CreateCompanion,
                 rebalance_write::DeleteCompanion, rebalance_write::WriteStatus,
                 rebalance_write::PostEvent>;

struct RebalancePlan {
  std::vector<RebalanceWrite> writes;  // in order; the first failure stops the rest
  runtime::Action next = runtime::Action::awaitChange();
  std::string why;
};

// KubeVirt's defaults: parallelMigrationsPerCluster and parallelOutboundMigrationsPerNode.
inline constexpr int ClusterMigrations = 5;
inline constexpr int OutboundMigrationsPerNode = 2;

// Decides the pass. Pure. A VM with a migration in flight (anyone's) is not planned again, and a
// VM's last migration (its VMI's migrationState) starts its minimum interval, so a pass killed
// after its migration was created finds it and starts no second one. Order: the migrations (with
// their Events), the companions' deletions and creations, the status, the outcomes' Events.
RebalancePlan planRebalance(const RebalanceInput& in, const RebalanceWorld& world, SystemTime now);

// The name of the migration that moves `vm` in the minute of `now`: a create retried within the
// pass's minute meets AlreadyExists instead of making a twin.
std::string rebalanceMigrationName(const std::string& vm, SystemTime now);
// The companion of `vm`: `<vm>-companion` (long names keep a prefix and end in a hash).
std::string companionName(const std::string& vm);

}  // namespace umbra::controller
