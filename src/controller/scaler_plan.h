#pragma once

// observe -> plan -> execute for PredictiveScalers, in the shape of the placement controller's
// plan.h: planScaler() turns (the scaler, its target and demand, the clock) into the writes to
// make and the Action. No I/O: its decisions are table rows in tests/unit/scaler_plan_test.cc.
#include <string>
#include <variant>
#include <vector>

#include "controller/scaler_world.h"
#include "runtime/action.h"
#include "runtime/event_recorder.h"

namespace umbra::controller {

namespace scaler_write {
struct PatchVirtualMachine {  // a merge patch of the target VM's template (sockets, guest memory)
  kube::Json patch;
};
struct ScalePool {  // spec.replicas through the pool's scale subresource
  int replicas = 0;
};
struct WriteStatus {  // a merge patch of .status, conditional on the resourceVersion read
  api::ScalerStatus status;
};
struct PostEvent {
  runtime::EventType type;
  std::string reason, action, note;
};
}  // namespace scaler_write

using ScalerWrite = std::variant<scaler_write::PatchVirtualMachine, scaler_write::ScalePool,
                                 scaler_write::WriteStatus, scaler_write::PostEvent>;

struct ScalerPlan {
  std::vector<ScalerWrite> writes;  // in order; the first failure stops the rest
  runtime::Action next = runtime::Action::awaitChange();
  std::string why;
};

// Decides the pass. Pure: same inputs, same plan. The target's change (if any) comes first, then
// the status that records it, then the Event: a pass killed in between finds the target already
// at the new size, so the next one makes no second change.
ScalerPlan planScaler(const ScalerInput& in, const ScalerWorld& world, SystemTime now);

}  // namespace umbra::controller
