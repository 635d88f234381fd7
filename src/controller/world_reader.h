#pragma once

#include "config/config.h"
#include "controller/first_pass_choices.h"
#include "controller/node_usage.h"
#include "controller/world.h"
#include "kube/client.h"
#include "kube/store.h"
#include "model/forecaster.h"
#include "telemetry/metrics_source.h"

namespace umbra::controller {

// The caches the reconciler reads the world from (kept by the controller's informers).
struct Caches {
  const kube::Store& placements;
  const kube::Store& vmis;  // all VMIs: targets, shadows, and what occupies each node
  const kube::Store& vms;
  const kube::Store& nodes;
  const kube::Store& pods;
  const kube::Store& migrations;  // VirtualMachineInstanceMigrations (the placements' own)
  const kube::Store& clusterInstancetypes;  // what sizes VMs that reference an instancetype
  const kube::Store& instancetypes;
};

// fidelity Mirror's view for `q`'s owner: whether the mesh is served, the target's Service (or why
// it cannot be mirrored) and which of the owner's mirroring objects exist. API reads only.
Result<MirrorView> readMirrorView(kube::KubeClient& client, const MirrorQuery& q);
// Server-side applies fidelity Mirror's objects in `ns`, in order (placement/mirror.h builds them:
// NetworkPolicy, Services, VirtualService), taking their fields back from any earlier manager.
Status applyMirrorObjects(kube::KubeClient& client, const std::string& ns,
                          const std::vector<kube::Json>& objects);

// observe: builds a pass's PlacementInput and World. Reads the caches; Prometheus only once an
// observation window has ended (the evidence a decision needs); the API server only to confirm
// that a deleted placement's shadows are gone before its finalizer is released.
class WorldReader {
 public:
  // `maxConcurrentPlacements` and `perNamespaceCap` (limits.concurrentPlacementsPerNamespace): a
  // placement that will queue is not worth a node ranking.
  WorldReader(Caches caches, kube::KubeClient& client, telemetry::MetricsSource& metrics,
              model::Forecaster& forecaster, const FirstPassChoices& choices,
              int maxConcurrentPlacements = 1 << 30, int perNamespaceCap = 1 << 30);

  // The placement as cached. An unparsable status (not written by Umbra) is an Invalid error.
  static Result<PlacementInput> input(const kube::Json& cached,
                                      const api::PlacementDefaults& defaults);
  Result<World> observe(const PlacementInput& in, SystemTime now) const;

 private:
  std::optional<TargetView> target(const PlacementInput& in) const;
  std::vector<api::ShadowStatus> adopted(const PlacementInput& in) const;
  std::map<std::string, int> probingByNamespace() const;
  int queuedAhead(const PlacementInput& in,
                  const std::map<std::string, int>& activeByNamespace) const;
  void holder(const PlacementInput& in, World& w) const;
  std::vector<placement::NodeView> nodes(const PlacementInput& in, const World& w,
                                         bool selecting) const;
  std::map<std::string, placement::Resources> reservations(const PlacementInput& in,
                                                           bool selecting) const;
  std::optional<MigrationView> migration(const PlacementInput& in) const;
  std::optional<placement::Resources> targetRequests(const kube::Json& placement,
                                                     std::string& on) const;
  // The VMI spec KubeVirt runs for a VM (its template with the instancetype applied) or a VMI.
  Result<kube::Json> runSpecOf(const kube::Json& target, bool isVm) const;
  // A VM's preference (spec.preference), as far as scheduling goes: its preferredArchitecture
  // when the template sets none. Read from the API server, only for VMs that reference one.
  Status applyPreference(const kube::Json& vm, kube::Json& vmiSpec) const;
  // Adds one device of each SR-IOV network's resource (its NetworkAttachmentDefinition's
  // k8s.v1.cni.cncf.io/resourceName), as virt-controller does for the virt-launcher pod. Reads
  // the definitions from the API server: only targets with SR-IOV interfaces pay for it.
  Status addSriovResources(const std::string& ns, const kube::Json& spec,
                           placement::TargetRequirements& req) const;
  // The target's DRA claims: what they need from nodes (placement/dra.h), read from the API
  // server only for targets with claims.
  Status addDraNeeds(const std::string& ns, const kube::Json& spec,
                     placement::TargetRequirements& req) const;
  void readShadows(const PlacementInput& in, World& w) const;
  // fidelity Mirror (world_reader_mirror.cc): the mesh, the target's Service and this placement's
  // mirroring objects, from the API server (Services, VirtualServices, NetworkPolicies are not
  // cached: only Mirror placements read them, and only while probing).
  Result<MirrorView> mirrorView(const PlacementInput& in, const TargetView& target) const;
  Result<size_t> shadowsOnServer(const PlacementInput& in) const;
  Evidence evidence(const PlacementInput& in, const TargetView& target, SystemTime now) const;
  // World::forecastRanking: one query per node feature for all the feasible nodes, their
  // histories in one more, each forecast as a shadow's would be with the node's CPU pressure in
  // place of its steal.
  void rankByForecast(const PlacementInput& in, World& w, SystemTime now) const;

  Caches caches_;
  kube::KubeClient& client_;
  telemetry::MetricsSource& metrics_;
  model::Forecaster& forecaster_;
  int maxConcurrentPlacements_;
  int perNamespaceCap_;
  const FirstPassChoices& choices_;
  NodeUsage usage_;  // the nodes and what is requested on each, from the caches
};

}  // namespace umbra::controller
