#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "api/shadow_placement.h"
#include "common/clock.h"
#include "config/config.h"
#include "controller/node_usage.h"
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
// A new placement's first pass only creates its shadows, the step a burst of placements waits
// for; the next pass (queued behind other placements' first passes) adds the finalizer, writes
// the status and records the Event. Until then the shadows themselves record the choice: the
// next pass adopts them (from memory, or from the cache after a restart) instead of choosing
// again, and their ownerReference lets the garbage collector take them if the placement is
// deleted in between.
//
//   Pending -> Probing (shadows created) -> Observing (all running) -> Placing / Recommended
//   -> Placed;  Failed on a terminal error. Finalizer umbra.io/cleanup: shadows go first.
class ShadowPlacementReconciler {
 public:
  explicit ShadowPlacementReconciler(ReconcilerDeps deps);
  Result<runtime::Action> reconcile(const std::string& key);

  // The placement keys a VMI event concerns (its umbra.io/placement label), for the informer.
  static std::string placementKeyOfShadow(const Json& vmi);
  // True for a placement whose shadows are yet to be created (no phase yet), the step a user
  // waits for: the informer queues it ahead of re-checks of placements already probing.
  static bool awaitsShadows(const Json& sp);

 private:
  struct Pass;  // the world as read at the start of one reconcile

  Result<runtime::Action> finalize(const Json& sp);
  Result<runtime::Action> advance(Pass& p);  // the phase's next step
  Status awaitFinalizer(Pass& p);
  Result<runtime::Action> selectCandidates(Pass& p);
  Result<runtime::Action> startProbing(Pass& p, Json shadows);
  Result<runtime::Action> probe(Pass& p);
  Result<runtime::Action> observe(Pass& p);
  Result<runtime::Action> place(Pass& p);
  Result<runtime::Action> fail(Pass& p, const std::string& reason, const std::string& message);

  // The candidate set an earlier pass chose for this placement, as status.shadows entries:
  // remembered, else the shadows in the cache that this placement owns. Empty when none.
  Json adoptedShadows(const Pass& p) const;
  Status writeStatus(Pass& p);
  Status deleteShadows(const Json& sp, bool confirmWithServer, bool& noneLeft);
  Status applyPlacement(Pass& p, std::string& how);
  void event(const Json& sp, runtime::EventType type, const std::string& reason,
             const std::string& action, const std::string& note);

  ReconcilerDeps d_;
  NodeUsage usage_;  // the nodes and what is requested on each, from the caches
  // Shadows created by a first pass whose status is not written yet, by placement key.
  struct Chosen {
    std::string uid;
    Json shadows;
  };
  mutable std::mutex chosenMutex_;  // guards chosen_ and superseded_
  std::map<std::string, Chosen> chosen_;
  // The placement's resourceVersions our last writes replaced, by key: a cache that still holds
  // one of them predates our own write, whose watch event re-queues the key. A pass on it would
  // act on what it already did and meet a Conflict (client-go controllers' "expectations").
  std::map<std::string, std::set<std::string>> superseded_;
};

}  // namespace umbra::controller
