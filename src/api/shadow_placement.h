#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "kube_core/resource.h"

namespace umbra::api {

using Json = nlohmann::json;
using std::chrono::milliseconds;

inline constexpr const char* Group = "umbra.io";
inline constexpr const char* Version = "v1alpha1";
inline constexpr const char* FinalizerName = "umbra.io/cleanup";
inline constexpr const char* PlacementLabel = "umbra.io/placement";
inline constexpr const char* RoleLabel = "umbra.io/role";
inline constexpr const char* ShadowNodeLabel = "umbra.io/node";  // the candidate a shadow probes
// On a shadow: how it probes (Passive, Synthetic, Mirror), which may differ from its placement's
// spec when mirroring fell back to Synthetic.
inline constexpr const char* FidelityLabel = "umbra.io/fidelity";
// On a VM whose template nodeSelector Umbra pinned to a node: that node. Umbra's own earlier pin
// never limits a later placement of the VM.
inline constexpr const char* PinnedNodeAnnotation = "umbra.io/pinned-node";

const kube::ResourceType& shadowPlacements();
const kube::ResourceType& virtualMachines();
const kube::ResourceType& virtualMachineInstances();
const kube::ResourceType& migrations();
// instancetype.kubevirt.io/v1beta1: what sizes a VM that references one.
const kube::ResourceType& clusterInstancetypes();
const kube::ResourceType& instancetypes();
const kube::ResourceType& clusterPreferences();
const kube::ResourceType& preferences();
// pool.kubevirt.io/v1beta1: pools of VMs from one template, with a scale subresource.
const kube::ResourceType& virtualMachinePools();
// networking.istio.io/v1: Istio's routing, whose HTTP routes can mirror requests.
const kube::ResourceType& virtualServices();
// k8s.cni.cncf.io/v1 (Multus): an SR-IOV network's device resource is in its annotations.
const kube::ResourceType& networkAttachmentDefinitions();

enum class TargetKind { VirtualMachine, VirtualMachineInstance };
enum class Mode { Apply, Recommend };
enum class Fidelity { Passive, Synthetic, Mirror };

// fidelity Mirror: a share of the target's requests copied to each shadow by the mesh (Istio).
struct MirrorSettings {
  double percentage = 10.0;  // of the target's requests, to each shadow
  std::string service;       // the target's Service; "": the one Service selecting the target
  // When mirroring cannot start (no mesh, no Service, a VirtualService of the user's on the
  // host, a halted target): Synthetic shadows instead, else the placement fails.
  bool fallbackSynthetic = false;
};

struct ScoringWeights {
  double cpu = 0.4;
  double memory = 0.2;
  double disk = 0.2;
  double network = 0.2;
};

struct SyntheticLoad {
  std::string profile = "steady";
  int cpuPercent = 50;
};

// What a node costs per hour (the operator configuration's `nodePrices`): the price of the value
// of its `label` (e.g. the cloud's instance type), unless the node's annotation
// umbra.io/price-per-hour gives its own (a spot price updater's). Currency-neutral.
struct NodePrices {
  std::string label = "node.kubernetes.io/instance-type";
  std::map<std::string, double> perHour;
};

// What an instancetype costs per hour (the operator configuration's `instancetypePrices`), for
// InstancetypeTrials: its row in `perHour`, else its vCPUs and guest memory at these rates (a
// dedicated vCPU dearer by `dedicatedPremium`). Currency-neutral; the defaults are assumptions
// (docs/instancetype-trials.md), not a cloud's price list.
struct InstancetypePrices {
  double perVcpuHour = 0.03;
  double perGiBHour = 0.004;
  double dedicatedPremium = 0.15;
  // By instancetype name (a vector: GCC 12 warns of a second map in PlacementDefaults'
  // temporaries, -Wmaybe-uninitialized, a false positive).
  std::vector<std::pair<std::string, double>> perHour;
};
inline constexpr const char* PriceAnnotation = "umbra.io/price-per-hour";

// What the operator uses where a ShadowPlacement leaves a field unset (the --config file).
struct PlacementDefaults {
  int candidateCount = 3;                         // shadow_instance_count
  double cpuFraction = 0.01;                      // resource_limit_shadow: 1 % CPU
  double memoryFraction = 0.02;                   //                        2 % RAM
  double cpuFloorCores = 0.010;                   // a shadow's CPU limit is at least 10m
  double memoryFloorBytes = 128.0 * 1024 * 1024;  // enough for the probe image to boot
  // A guest OS needs a minimum of memory to boot whatever the fraction says: a shadow running an
  // image whose reference contains a key gets at least that much (the largest matching floor).
  // Fedora: 544Mi (reported in issue 24: Fedora images do not boot with less).
  std::map<std::string, double> imageMemoryFloors{{"fedora", 544.0 * 1024 * 1024}};
  double mirroringPercentage = 10.0;  // mirroring_percentage: Mirror shadows' share of requests
  // Where the mesh's control plane runs: a Mirror shadow's egress policy lets its sidecar reach
  // istiod (xDS and certificates on 15012) there, and DNS; nothing else.
  std::string meshNamespace = "istio-system";
  NodePrices nodePrices;
  InstancetypePrices instancetypePrices;
  std::string probeImage = "quay.io/kubevirt/cirros-container-disk-demo:v1.6.0";
  milliseconds shadowStartTimeout{std::chrono::minutes(3)};
  // How long a placement waits for its target to appear (kubectl apply -f dir/ creates files in
  // name order) before it fails with TargetNotFound.
  milliseconds targetWaitTimeout{std::chrono::minutes(2)};
  milliseconds observationDuration{std::chrono::minutes(5)};
  milliseconds observationInterval{std::chrono::seconds(15)};
  double minConfidence = 0.7;
  int maxExtensions = 2;
  ScoringWeights weights;
  // What a spec may ask at most (the operator configuration's `limits:`), so that one namespace
  // cannot hold a slot for days: a spec beyond one fails with InvalidSpec naming the field.
  struct Limits {
    milliseconds observationDuration{std::chrono::hours(2)};
    int extensions = 3;
    int candidates = 5;
  } limits;
};

// A ShadowPlacement's effective settings: its spec over the operator's defaults.
// How a placed VM is kept on its node (spec.pinPolicy). Required: the template's nodeSelector
// pins it for good. Preferred: a preferred node affinity term (weight 100) instead. UntilRunning
// (default): the nodeSelector pins it until the VMI runs there, then is removed, so drains and
// later placements are free to move it.
enum class PinPolicy { Required, Preferred, UntilRunning };

struct PlacementSettings {
  TargetKind targetKind = TargetKind::VirtualMachine;
  std::string targetName;
  Mode mode = Mode::Apply;
  PinPolicy pinPolicy = PinPolicy::UntilRunning;
  int candidateCount = 3;
  std::map<std::string, std::string> nodeSelector;
  double cpuFraction = 0.01;
  double memoryFraction = 0.02;
  Fidelity fidelity = Fidelity::Passive;
  SyntheticLoad load;
  MirrorSettings mirroring;
  // spec.constraints.maxCostPerHour: a candidate node where the VM's share of the node's price
  // (placement/candidates.h, CostCap) exceeds it is excluded. nullopt: no cap.
  std::optional<double> maxCostPerHour;
  milliseconds observationDuration{};
  milliseconds observationInterval{};
  double minConfidence = 0.7;
  int maxExtensions = 2;
  ScoringWeights weights;
};

// Reads a ShadowPlacement object. The API server has validated the schema already; this checks
// what it cannot (and guards against an older CRD) and returns a Terminal error naming the field,
// e.g. "ns/web: spec.observation.duration: \"5 minutes\" is not a duration".
Result<PlacementSettings> settingsFrom(const Json& sp, const PlacementDefaults& defaults);

const char* toString(TargetKind kind);
const char* toString(Mode mode);
const char* toString(PinPolicy policy);
const char* toString(Fidelity fidelity);

}  // namespace umbra::api
