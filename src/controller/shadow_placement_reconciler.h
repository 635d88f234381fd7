#pragma once

#include <string>
#include <vector>

#include "api/shadow_placement.h"
#include "common/clock.h"
#include "config/config.h"
#include "kube/client.h"
#include "kube/store.h"
#include "model/forecaster.h"
#include "runtime/controller.h"
#include "runtime/event_recorder.h"
#include "telemetry/metrics_source.h"

namespace umbra::controller {

using Json = nlohmann::json;

// The caches the reconciler reads the world from (informers kept by the operator).
struct Caches {
  const kube::Store& placements;
  const kube::Store& vmis;  // all VMIs: targets, shadows, and what occupies each node
  const kube::Store& vms;
  const kube::Store& nodes;
  const kube::Store& pods;
};

struct ReconcilerDeps {
  kube::KubeClient& client;
  Caches caches;
  telemetry::MetricsSource& metrics;
  model::Forecaster& forecaster;
  runtime::EventRecorder& events;
  const Clock& clock;
  config::OperatorConfig config;
};

// Reconciles one ShadowPlacement. Level-based and idempotent: each pass reads the placement, its
// target, the nodes and its shadows, derives the next step, and writes. Status records only what
// the world cannot tell again (the chosen candidates, when observation started, extensions, the
// decision), so a restart at any moment resumes where the last pass left off.
//
//   Pending -> Probing (shadows created) -> Observing (all running) -> Placing / Recommended
//   -> Placed;  Failed on a terminal error. Finalizer umbra.io/cleanup: shadows go first.
class ShadowPlacementReconciler {
 public:
  explicit ShadowPlacementReconciler(ReconcilerDeps deps);
  Result<runtime::Action> reconcile(const std::string& key);

  // The placement keys a VMI event concerns (its umbra.io/placement label), for the informer.
  static std::string placementKeyOfShadow(const Json& vmi);

 private:
  struct Pass;  // the world as read at the start of one reconcile

  Result<runtime::Action> finalize(const Json& sp);
  Result<runtime::Action> advance(Pass& p);  // the phase's next step
  Status awaitFinalizer(Pass& p);
  Result<runtime::Action> selectCandidates(Pass& p);
  Result<runtime::Action> probe(Pass& p);
  Result<runtime::Action> observe(Pass& p);
  Result<runtime::Action> place(Pass& p);
  Result<runtime::Action> fail(Pass& p, const std::string& reason, const std::string& message);

  Status writeStatus(Pass& p);
  Status deleteShadows(const Json& sp, bool confirmWithServer, bool& noneLeft);
  Status applyPlacement(Pass& p, std::string& how);
  void event(const Json& sp, runtime::EventType type, const std::string& reason,
             const std::string& action, const std::string& note);

  ReconcilerDeps d_;
};

}  // namespace umbra::controller
