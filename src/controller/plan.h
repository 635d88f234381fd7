#pragma once

// observe -> plan -> execute: plan() turns (the placement, a snapshot of the world, the clock)
// into a typed decision, the writes to make and the Action. It has no I/O, so every transition
// of the state machine is a table row in tests/unit/plan_test.cc.
#include <string>
#include <variant>
#include <vector>

#include "api/shadow_placement_status.h"
#include "config/config.h"
#include "controller/world.h"
#include "runtime/action.h"
#include "runtime/event_recorder.h"

namespace umbra::controller {

namespace write {
// Adds umbra.io/cleanup; runs concurrently with the writes after it and is awaited before the
// first status write.
struct AddFinalizer {};
struct RemoveFinalizer {};
// Remembers the candidate set before its shadows exist in any status (FirstPassChoices).
struct RememberChoice {
  std::vector<api::ShadowStatus> shadows;
};
struct ForgetChoice {};
// Creates shadow VMIs concurrently; AlreadyExists is success (deterministic names).
struct CreateShadows {
  std::vector<kube::Json> vmis;
};
struct DeleteShadow {  // a dropped candidate's shadow; best effort
  std::string name;
};
struct DeleteShadows {};  // all of the placement's shadows, one DELETE collection
// A merge patch of .status, conditional on the resourceVersion the pass read.
struct WriteStatus {
  api::ShadowPlacementStatus status;
};
struct PostEvent {
  runtime::EventType type;
  std::string reason;
  std::string action;
  std::string note;
};
struct PatchVirtualMachine {  // a merge patch of the target VM
  std::string name;
  kube::Json patch;
};
struct CreateMigration {  // AlreadyExists is success
  kube::Json migration;
};
// fidelity Mirror: server-side applies, in order, of the shadows' NetworkPolicy, their Services
// and the VirtualService (placement/mirror.h): the fence is up before any request is mirrored.
struct ApplyMirror {
  std::vector<kube::Json> objects;
};
}  // namespace write

using Write = std::variant<write::AddFinalizer, write::RemoveFinalizer, write::RememberChoice,
                           write::ForgetChoice, write::CreateShadows, write::DeleteShadow,
                           write::DeleteShadows, write::WriteStatus, write::PostEvent,
                           write::PatchVirtualMachine, write::CreateMigration, write::ApplyMirror>;

struct Plan {
  std::vector<Write> writes;  // performed in order; the first failure stops the rest
  runtime::Action next = runtime::Action::awaitChange();
  // Written when a write fails, so that what was decided survives the retry (the decision of a
  // placement whose VM patch failed). nullopt: the status as read.
  std::optional<api::ShadowPlacementStatus> statusOnFailure;
  std::string why;  // one line, for logs and tests

  // The status this plan writes, if any.
  const api::ShadowPlacementStatus* status() const;
};

// Decides the pass. Pure: same inputs, same plan.
Plan plan(const PlacementInput& in, const World& world, const config::OperatorConfig& config,
          SystemTime now);

// True for a placement whose shadows are yet to be created (no phase, not deleting): its key is
// queued ahead of re-checks, and its first pass creates the shadows and nothing else.
bool awaitsShadows(const kube::Json& placement);

}  // namespace umbra::controller
