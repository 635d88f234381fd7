#pragma once

// observe -> plan -> execute for ShadowPools, in the shape of scaler_plan.h: planPool() turns
// (the pool, its world, the clock) into the writes to make and the Action. No I/O: its decisions
// are table rows in tests/unit/pool_plan_test.cc.
#include <string>
#include <variant>
#include <vector>

#include "controller/pool_world.h"
#include "runtime/action.h"
#include "runtime/event_recorder.h"

namespace umbra::controller {

namespace pool_write {
struct ReserveNode {  // the reserved-for label and the NoSchedule taint, on the node as read
  std::string node, resourceVersion;
  kube::Json labels, taints;
};
struct CreateShadow {  // a VirtualMachine (AlreadyExists: it was created before a restart)
  kube::Json vm;
};
struct StartShadow {  // PUT .../virtualmachines/{name}/start (409 "already running": done)
  std::string name;
  bool paused = false;
};
struct MarkActivation {  // the activation's start on the VM: a restart resumes this shadow
  std::string name;
  SystemTime at{};
  double trigger = 0;
  bool clear = false;  // removes the marks (the shadow goes back to dormant)
};
struct UnpauseShadow {  // PUT .../virtualmachineinstances/{name}/unpause (409 "not paused": done)
  std::string name;
};
struct PauseShadow {  // PUT .../pause (409 "already paused": done)
  std::string name;
};
struct ServeShadow {  // the Service's label on the VM's template, its VMI and virt-launcher pod
  std::string name;
  bool serve = true;   // false: removed (traffic stops first when a shadow goes dormant)
  bool stamp = false;  // the shadow runs unpaused: record when it started serving
};
struct ResizeShadow {  // the VM template's sockets and guest memory (a hotplug)
  std::string name;
  int sockets = 1;
  std::string guest;
};
struct DeleteShadow {
  std::string name;
};
struct WriteStatus {  // a merge patch of .status, conditional on the resourceVersion read
  api::ShadowPoolStatus status;
};
struct WriteNoticeStatus {
  std::string name;
  kube::Json status;
};
struct PostEvent {
  runtime::EventType type;
  std::string reason, action, note;
};
}  // namespace pool_write

using PoolWrite =
    std::variant<pool_write::ReserveNode, pool_write::CreateShadow, pool_write::StartShadow,
                 pool_write::MarkActivation, pool_write::UnpauseShadow, pool_write::PauseShadow,
                 pool_write::ServeShadow, pool_write::ResizeShadow, pool_write::DeleteShadow,
                 pool_write::WriteStatus, pool_write::WriteNoticeStatus, pool_write::PostEvent>;

struct PoolPlan {
  std::vector<PoolWrite> writes;  // in order; the first failure stops the rest
  runtime::Action next = runtime::Action::awaitChange();
  std::string why;
};

// KubeVirt's own CI: creation to Running for 100 VMIs, p50 27 s (issue 21, from KubeVirt's
// performance job); what an activation from a paused shadow saves against a cold start.
inline constexpr double ColdStartSeconds = 27;

// Decides the pass. Pure. Order: reserved nodes, the activations' steps (mark, unpause, serve,
// resize), then refills, decommissions, the status, notices' statuses, Events. Each step is
// idempotent and found again by the next pass, so a pass killed anywhere neither repeats an
// activation nor loses a shadow.
PoolPlan planPool(const PoolInput& in, const PoolWorld& world, SystemTime now);

// The name of shadow `index` of pool `pool`.
std::string shadowName(const std::string& pool, int index);

}  // namespace umbra::controller
