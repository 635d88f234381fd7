#pragma once

// What one reconcile pass of a ShadowPlacement knows: the placement as read (PlacementInput) and
// a snapshot of the world around it (World). Plain values: plan() decides on them with no I/O.
#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api/shadow_placement.h"
#include "api/shadow_placement_status.h"
#include "common/clock.h"
#include "kube_core/object.h"
#include "placement/candidates.h"
#include "placement/mirror.h"
#include "placement/scoring.h"

namespace umbra::controller {

// A configured duration on the clock's scale.
inline Duration toDuration(std::chrono::milliseconds ms) {
  return std::chrono::duration_cast<Duration>(ms);
}

// The placement as cached at the start of the pass.
struct PlacementInput {
  kube::Json object;  // as cached: the owner of shadows, the subject of Events
  std::string ns;
  std::string name;
  std::string uid;
  int64_t generation = 0;
  bool deleting = false;
  bool hasFinalizer = false;
  std::optional<SystemTime> created;
  std::optional<api::PlacementSettings> settings;  // nullopt: invalid, see settingsError
  std::string settingsError;
  api::ShadowPlacementStatus status;

  std::string key() const { return ns + "/" + name; }
};

// The target VM or VMI.
struct TargetView {
  kube::Json spec;  // the VMI spec (a VM's spec.template.spec)
  std::optional<placement::TargetRequirements> requirements;  // nullopt: see invalid
  std::string invalid;
  bool vmiExists = false;        // a VMI of that name exists (the VM runs, or the target is a VMI)
  std::string runningOn;         // the VMI's status.nodeName
  std::string vmiPhase;          // the VMI's status.phase
  bool hasRunningField = false;  // a VM whose spec uses the deprecated `running`
  std::string runStrategy;       // a VM's spec.runStrategy
  std::string unschedulable;     // why the VMI's pod cannot be scheduled (PodScheduled=False)
  std::string notMigratable;     // "<reason>: <message>" of a LiveMigratable=False condition
  std::string pinnedNode;        // where Umbra pinned it last (annotation umbra.io/pinned-node)
  std::string unavailable;       // what could not be read now (retried); not seen by plan()
  kube::Json labels = kube::Json::object();  // the VMI's labels (its pod's), once it exists
};

// One of this placement's shadow VMIs in the cache.
struct ShadowView {
  std::string phase;  // the VMI's status.phase
  std::optional<SystemTime> created;
  std::optional<SystemTime> runningSince;  // from status.phaseTransitionTimestamps
  std::string uid;
  std::string node;      // its umbra.io/node label
  std::string fidelity;  // its umbra.io/fidelity label ("" on shadows of older versions)
};

// fidelity Mirror: the mesh and the target's Service as this pass found them, and the mirroring
// objects of this placement that exist (placement/mirror.h). Read only for Mirror placements
// still probing.
struct MirrorView {
  // Why mirroring cannot run now ("" when it can): NoMesh (Istio's VirtualService API is not
  // served), NoService, AmbiguousService, HostRouted (another VirtualService routes the host),
  // TargetNotRunning; `problem` says it in a sentence.
  std::string problemReason;
  std::string problem;
  kube::Json service;                 // the target's Service, when found
  std::set<std::string> services;     // this placement's shadow Services that exist
  bool egressPolicy = false;          // its NetworkPolicy exists
  bool virtualService = false;        // its VirtualService exists
  std::vector<std::string> mirrored;  // the hosts that VirtualService mirrors to, sorted
};

// What readMirrorView() (controller/world_reader.h) looks for: the owner's scope, the target.
struct MirrorQuery {
  placement::MirrorScope scope;
  std::string service;       // the Service to mirror, as the spec names it ("": the one selecting)
  std::string serviceField;  // that field's path, for messages
  std::string targetName;    // "VirtualMachine ns/web", for messages
  bool targetExists = false;
  std::string targetPhase;
  kube::Json targetLabels = kube::Json::object();
};

// The migration of the placement's current move.
struct MigrationView {
  std::string phase;   // status.phase: Pending, Scheduling, Running, Succeeded, Failed, ...
  std::string reason;  // why it failed (its Failed condition's message)
};

// What the shadows showed over the observation window, read once the window has ended.
struct Evidence {
  std::string problem;  // why no decision can be made on it (telemetry, forecast); "" if usable
  std::string gap;      // a hole in the window's telemetry: observe again; "" if none
  std::vector<placement::CandidateForecast> forecasts;
  std::set<std::string> missingOptional;  // optional features without data
  size_t observed = 0;                    // shadows observed
  std::string model;                      // the forecaster's name
};

struct World {
  std::optional<TargetView> target;  // nullopt: it does not exist (yet)
  // The candidate set an earlier pass chose and created shadows for, before any status recorded
  // it: remembered, else this placement's owned shadows in the cache. Empty when none.
  std::vector<api::ShadowStatus> adopted;
  int probing = 0;             // placements probing now, for maxConcurrentPlacements
  int probingInNamespace = 0;  // of them in this placement's namespace
  // Placements waiting for a slot that came first (created earlier): first come, first served.
  int queuedAhead = 0;
  // Another active placement of the same target that goes first ("" if none), and its phase:
  // one placement acts on a VM at a time.
  std::string heldBy;
  std::string heldByPhase;
  std::vector<placement::NodeView> nodes;  // less the target and this placement's shadows
  // While choosing candidates (with a free slot): the feasible nodes ranked best first by the
  // forecast from each node's own telemetry and history, before any shadow. Empty when it could
  // not be made; forecastRankingProblem says why (candidates are then chosen by requests alone).
  std::vector<std::string> forecastRanking;
  std::string forecastRankingProblem;
  std::map<std::string, ShadowView> shadows;  // this placement's shadows by name
  // This placement's shadows still present: in the cache, or on the server while deleting.
  size_t shadowsLeft = 0;
  std::optional<Evidence> evidence;        // only once the observation window has ended
  std::optional<MigrationView> migration;  // the current move's migration, once it exists
  std::optional<MirrorView> mirror;        // fidelity Mirror, while choosing or probing
};

}  // namespace umbra::controller
