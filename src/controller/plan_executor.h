#pragma once

#include <future>
#include <string>
#include <vector>

#include "controller/first_pass_choices.h"
#include "controller/plan.h"
#include "kube/client.h"
#include "runtime/event_recorder.h"

namespace umbra::controller {

// Told what a placement's status writes record: the operator turns this into outcome
// recording, metrics and logs. Called on the reconciling worker after the write succeeded.
class PlacementListener {
 public:
  virtual ~PlacementListener() = default;
  // A status write moved the placement from `from` to `status.phase`.
  virtual void phaseChanged(const PlacementInput& in, api::Phase from,
                            const api::ShadowPlacementStatus& status, SystemTime at) = 0;
  virtual void observationExtended(const PlacementInput& in) = 0;
};

// execute: performs a Plan's writes in order.
// Guarantees:
//  - AddFinalizer runs concurrently with the writes after it and is awaited before the first
//    status write and before execute() returns;
//  - the first failed write stops the rest; its error comes back wrapped with what was being
//    done ("while creating shadow VMI ns/x: ..."). Then Plan::statusOnFailure is recorded, and an
//    error that retrying cannot fix (not Error::retryable()) is reported on the placement: the
//    condition Placed=False with the error's kind as reason, and a Warning Event;
//  - status writes are conditional on the resourceVersion the pass read, so a pass on a stale
//    cache meets a Conflict instead of overwriting newer progress.
class PlanExecutor {
 public:
  PlanExecutor(kube::KubeClient& client, runtime::EventRecorder& events, FirstPassChoices& choices,
               PlacementListener& listener);

  // `replaced` receives the placement's resourceVersions that our writes replaced.
  Result<runtime::Action> execute(const PlacementInput& in, const Plan& plan, SystemTime now,
                                  std::vector<std::string>& replaced);

 private:
  struct Run;
  Status perform(Run& run, const Write& w);
  Status addFinalizer(Run& run);
  Status awaitFinalizer(Run& run);
  Status removeFinalizer(Run& run);
  Status createShadows(Run& run, const write::CreateShadows& w);
  Status deleteShadows(Run& run);
  Status writeStatus(Run& run, const api::ShadowPlacementStatus& status);
  Status patchVirtualMachine(Run& run, const write::PatchVirtualMachine& w);
  Status createMigration(Run& run, const write::CreateMigration& w);
  Status applyMirror(Run& run, const write::ApplyMirror& w);
  void reportFailure(Run& run, const Plan& plan, const Error& error);

  kube::KubeClient& client_;
  runtime::EventRecorder& events_;
  FirstPassChoices& choices_;
  PlacementListener& listener_;
};

}  // namespace umbra::controller
