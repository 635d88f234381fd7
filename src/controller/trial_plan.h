#pragma once

// observe -> plan -> execute for InstancetypeTrials, in the shape of rebalance_plan.h: planTrial()
// turns (the trial, its world, the clock) into the writes to make and the Action. No I/O: its
// decisions are table rows in tests/unit/trial_plan_test.cc.
#include <string>
#include <variant>
#include <vector>

#include "controller/trial_world.h"
#include "runtime/action.h"
#include "runtime/event_recorder.h"

namespace umbra::controller {

namespace trial_write {
struct CreateShadow {  // a candidate's shadow VMI (AlreadyExists: made before a restart)
  kube::Json vmi;
};
struct DeleteShadow {  // a candidate's shadow, once it is measured, dropped or failed
  std::string name;
};
struct ApplyMirror {  // server-side apply, in order: NetworkPolicy, Services, VirtualService
  std::vector<kube::Json> objects;
};
struct SetInstancetype {  // mode Apply: the VM's spec.instancetype (a merge patch)
  api::InstancetypeRef ref;
};
struct WriteStatus {  // a merge patch of .status, conditional on the resourceVersion read
  api::TrialStatus status;
};
struct PostEvent {
  runtime::EventType type;
  std::string reason, action, note;
};
}  // namespace trial_write

using TrialWrite =
    std::variant<trial_write::CreateShadow, trial_write::DeleteShadow, trial_write::ApplyMirror,
                 trial_write::SetInstancetype, trial_write::WriteStatus, trial_write::PostEvent>;

struct TrialPlan {
  std::vector<TrialWrite> writes;  // in order; the first failure stops the rest
  runtime::Action next = runtime::Action::awaitChange();
  std::string why;
};

// What the plan needs besides the trial and its world.
struct TrialSettings {
  api::PlacementDefaults defaults;    // shadow floors, the mesh's namespace
  std::chrono::seconds interval{10};  // how often a running trial is looked at
};

// Decides the pass. Pure. The status is the trial's memory: each candidate's state, when its
// shadow began serving and what it measured, so that a pass killed anywhere is repeated by the
// next without a twin shadow or a second switch. Order: shadows made or removed, the mirroring
// objects, the status, the VM's instancetype (mode Apply, after the status said Completed), the
// Events.
TrialPlan planTrial(const TrialInput& in, const TrialWorld& world, const TrialSettings& settings,
                    SystemTime now);

}  // namespace umbra::controller
