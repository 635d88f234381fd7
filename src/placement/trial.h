#pragma once

// InstancetypeTrial (docs/instancetype-trials.md) as pure functions: a candidate type's shadow,
// what its measurement means at the full load, the ranking, the neighbours of a type, its price.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/instancetype_trial.h"
#include "api/shadow_placement.h"
#include "placement/candidates.h"
#include "placement/mirror.h"

namespace umbra::placement {

using Json = nlohmann::json;

// `<trial>-<type>` with the type's dots as dashes (the shadow's Service is named as it, and a
// Service name is a DNS label); long names keep a prefix and end in a hash.
std::string trialShadowName(const std::string& trial, const std::string& type);
// The value of a trial's umbra.io/trial label.
std::string trialLabelValue(const std::string& trial);

// The trial's mirroring objects' scope (placement/mirror.h): labelled umbra.io/trial, named
// `<trial>-trial-mirror` and `<trial>-trial-shadow-egress`, apart from a ShadowPlacement's.
MirrorScope trialMirrorScope(const Json& trial);

// A candidate type as its spec reads: vCPUs, guest memory, dedicated cores.
struct TypeSize {
  int vcpus = 0;
  double memoryGiB = 0;
  bool dedicated = false;
};
Result<TypeSize> typeSize(const Instancetype& it);

// What an instancetype costs per hour (api::InstancetypePrices): its row in the table, else
// vCPUs x perVcpuHour (x (1 + dedicatedPremium) for dedicated cores) + GiB x perGiBHour.
double typeCostPerHour(const api::InstancetypePrices& prices, const std::string& name,
                       const TypeSize& size);

// The shadow of candidate `it` for the trial: the target's spec (its image, never its volumes)
// with the type applied: the type's vCPUs as sockets, each run at `share` of a core by the CFS
// quota (CPU limit = share x vCPUs), so that it sees the full load's utilisation at the mirrored
// share of the requests; memory a fraction of the type's (the placement defaults' floors);
// Istio's sidecar and the masquerade binding; labels umbra.io/trial, umbra.io/role=shadow,
// umbra.io/instancetype and umbra.io/fidelity=Mirror; controlled by the trial.
Json buildTrialShadowVmi(const Json& trial, const Json& targetSpec, const Instancetype& it,
                         double share, const api::PlacementDefaults& defaults);

// What Prometheus showed of one shadow over its observation (the mesh's metrics and KubeVirt's).
struct ShadowReading {
  double requests = 0;           // served over the window
  double requestsPerSecond = 0;  // at the mirrored share
  double p50Ms = 0, p95Ms = 0;   // the mesh histogram's quantiles, at the share
  double cpuCores = 0;           // busy cores
  double stealFraction = 0;      // vCPU delay per vCPU-second
};

// At the full load: the shadow runs the full load's utilisation on vCPUs slowed to `share`, so
// its latencies are the full load's stretched by 1/share (a change of time scale, exact for a
// queue whose servers and arrivals are both scaled; docs/instancetype-trials.md) and its request
// rate is the share's.
api::TrialMeasurement atFullLoad(const ShadowReading& r, double share, int vcpus);

// How far a shadow's p95 can be trusted: the requests it served over ConfidentRequests (20 of them
// above the 95th percentile), at most 1. Below 1 at the end of its observation, a candidate is
// observed again (up to MaxTrialExtensions times), as a placement extends an unsure observation.
inline constexpr double ConfidentRequests = 400;
inline constexpr int MaxTrialExtensions = 2;
double trialConfidence(double requests);

// Clearly worse at half its observation: saturated, or p95 over twice the SLO.
bool clearlyWorse(const api::TrialMeasurement& m, double sloP95Ms);

// The measured candidates, best first: meeting the SLO before missing it; among those meeting it
// the cheaper, then the faster; among those missing it the faster.
std::vector<const api::TrialCandidate*> rankCandidates(const std::vector<api::TrialCandidate>& all);

// Memory fit: a type whose guest memory is below what the VM uses (its peak over the trial, from
// KubeVirt's kubevirt_vmi_memory_used_bytes) plus 10 % is not recommended. "" when it fits or the
// use is unknown, else why not.
inline constexpr double MemoryMargin = 0.1;
std::string memoryShortfall(double typeGiB, std::optional<double> inUseGiB);

// "81 ms", "9.5 ms"; "0.092/h".
std::string formatMs(double ms);
std::string formatPrice(double perHour);

// explore.neighbours: the ranked best's next size down when it meets the SLO, else the next size
// up of the fastest, unless already a candidate; with a sentence for the Event.
struct CatalogueEntry;
std::optional<std::pair<api::InstancetypeRef, std::string>> nextToExplore(
    const std::vector<api::TrialCandidate>& candidates,
    const std::vector<CatalogueEntry>& catalogue);

// What a trial's shadows cost, in percent of the VM's at `vmCostPerHour` over `elapsed`: each
// measured candidate at the share of its type for its observation (half of it when dropped
// there). nullopt when the VM's cost is unknown.
std::optional<double> shadowCostPercent(const std::vector<api::TrialCandidate>& candidates,
                                        double share, std::chrono::milliseconds observation,
                                        double vmCostPerHour, Duration elapsed);

// A type's neighbours in its series (`<series>.<size>`, KubeVirt's common-instancetypes naming):
// the next smaller and the next larger of `catalogue` with the same series, by vCPUs then memory.
struct CatalogueEntry {
  api::InstancetypeRef ref;
  TypeSize size;
};
std::pair<std::optional<api::InstancetypeRef>, std::optional<api::InstancetypeRef>> neighboursOf(
    const std::string& name, const std::vector<CatalogueEntry>& catalogue);

}  // namespace umbra::placement
