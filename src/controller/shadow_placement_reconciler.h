#pragma once

#include <string>

#include "common/clock.h"
#include "config/config.h"
#include "controller/first_pass_choices.h"
#include "controller/plan.h"
#include "controller/plan_executor.h"
#include "controller/world_reader.h"
#include "kube/client.h"
#include "model/forecaster.h"
#include "runtime/action.h"
#include "runtime/event_recorder.h"
#include "telemetry/metrics_source.h"

namespace umbra::controller {

struct ReconcilerDeps {
  kube::KubeClient& client;
  Caches caches;
  telemetry::MetricsSource& metrics;
  model::Forecaster& forecaster;
  runtime::EventRecorder& events;
  const Clock& clock;
  config::OperatorConfig config;
  PlacementListener* listener = nullptr;  // non-owning; null: nobody listens
};

// The controller's watch-to-key mappers, for runtime::ControllerBuilder:
//  - a new placement (no phase yet) is queued at High priority, ahead of re-checks;
//  - a VM or VMI concerns the placements in its namespace that target it (its shadows map to
//    their owner through the ownerReference).
runtime::Priority priorityOf(const kube::Json& placement);
std::vector<std::string> placementsOfTarget(const kube::Json& vmOrVmi,
                                            const kube::Store& placements);

// Reconciles one ShadowPlacement: observe -> plan -> execute.
//   observe  WorldReader builds the placement's input and a snapshot of the world (world.h);
//   plan     plan() decides the writes and the Action, with no I/O (plan.h);
//   execute  PlanExecutor performs the writes (plan_executor.h).
// Level-based and idempotent; status records only what the world cannot tell again, so a
// restart at any moment resumes where the last pass left off. Two memories span passes:
// FirstPassChoices (the shadows a new placement's first pass created, before its status) and
// WriteExpectations (a cache older than our own last write waits for the watch).
class ShadowPlacementReconciler {
 public:
  explicit ShadowPlacementReconciler(ReconcilerDeps deps);
  Result<runtime::Action> reconcile(const std::string& key);

 private:
  class NoListener final : public PlacementListener {
    void phaseChanged(const PlacementInput&, api::Phase, const api::ShadowPlacementStatus&,
                      SystemTime) override {}
    void observationExtended(const PlacementInput&) override {}
  };

  ReconcilerDeps d_;
  NoListener noListener_;
  FirstPassChoices choices_;
  WriteExpectations expectations_;
  WorldReader reader_;
  PlanExecutor executor_;
};

}  // namespace umbra::controller
