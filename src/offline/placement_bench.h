#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/shadow_placement.h"
#include "common/result.h"
#include "model/model_forecaster.h"
#include "sim/simulation.h"

namespace umbra::model {

// `umbra bench placement`: placement quality of Umbra against its peers and a clairvoyant oracle,
// offline on the simulation core. Every placer gets its own run of the same cluster, background,
// arrivals and seed; only the placements differ.
struct PlacementBenchOptions {
  double utilisation = 0.2;  // background the cluster is filled to (mean node CPU)
  bool interference = true;  // false: the physics' hidden interference is off
  size_t arrivals = 48;      // VMs placed, one every `arrivalEverySeconds`
  double arrivalEverySeconds = 1800;
  double lifetimeSeconds = 24 * 3600;  // each placed VM is measured over this, then leaves
  double sloSteal = 0.10;              // "minutes over the SLO": 300 s slots with steal above
  // Umbra: the operator's defaults.
  int candidates = 3;
  double observeSeconds = 300;
  double minConfidence = 0.7;
  int maxExtensions = 2;
  double shadowCpuFraction = 0.01, shadowMemoryFraction = 0.02;
  bool synthetic = true;  // Umbra's shadows run the probe (fidelity Synthetic); false: Passive
  // Trimaran TargetLoadPacking's target utilisation.
  double targetLoad = 0.4;
  // Trimaran LoadVariationRiskBalancing: margin and sensitivity (the plugin's recommended 1 and
  // 2), over the node's last hour of 5-minute utilisation.
  double riskMargin = 1, riskSensitivity = 2;
  size_t riskWindowSlots = 12;
  // The oracle simulates each feasible node's future with the VM on it over this long (the
  // arrivals after it are not known to it).
  double oracleLookaheadSeconds = 24 * 3600;
  // The node history the operator's forecaster reads (forecast-only and Umbra alike): true, as the
  // VMs on it now would have made it (model/co_runners.h, what the operator reads); false, the
  // node's own (the operator before it read per-VMI CPU; the results before session 28).
  bool coRunnerHistory = true;
  // The ShadowPlacement's spec.scoring that forecast-only and Umbra rank by (the operator's
  // defaults unless set: CPU 0.4, memory, disk and network 0.2 each).
  api::ScoringWeights scoring;
  uint64_t seed = 1;
};

struct PlacedVm {
  std::string id, node;
  double vcpus = 0, memoryBytes = 0;
  double meanSteal = 0, p95Steal = 0, minutesOverSlo = 0, p95IoWait = 0;
  // Harm to neighbours: the mean, over the VMs on its node when it was placed, of their p95
  // steal during its lifetime; -1 if it had none.
  double neighbourP95 = -1;
};

struct PlacerResult {
  std::string placer;
  std::vector<PlacedVm> vms;
  // Over all placed VMs: the mean of each VM's p95 steal (the headline), mean steal, and the
  // 95th percentile of all VMs' 300 s steal samples.
  double meanP95Steal = 0, meanSteal = 0, p95AllSteal = 0;
  double minutesOverSlo = 0;  // summed over VMs
  double p95IoWait = 0;       // mean of each VM's p95 node iowait
  double imbalance = 0;       // mean over 300 s slots of the std dev of node CPU utilisation
  // Shadow cost as a share of the placed VMs' allocated CPU-hours and memory-hours.
  double shadowCpuShare = 0, shadowMemoryShare = 0;
  double decisionSeconds = 0;  // mean simulated time from arrival to placement
  double computeSeconds = 0;   // wall time the placer's decisions took
  double extensions = 0;       // mean observation extensions (Umbra)
  // Arrivals no node had room for in this placer's world (left out of every figure above).
  std::vector<std::string> unschedulable;
  // Harm to neighbours: the mean of the placed VMs' neighbourP95 (those with neighbours).
  double neighbourP95 = 0;
  // Umbra's placers: each decision's stated confidence and whether it was right (Choice).
  std::vector<std::pair<double, bool>> calibration;
  // "umbra": every decision's probed candidates, what the shadows and the node forecast alone
  // predicted for each, and its clairvoyant future (what a decision rule can be fitted on, in a
  // world other than the one it is judged in).
  struct Candidate {
    std::string node;
    // From the shadow's telemetry: p50, its observation's standard error and the model's own sd.
    double shadowSteal = -1, shadowStderr = 0, shadowModelSd = 0;
    double nodeSteal = -1;  // from the node's telemetry alone (forecast-only's p50)
    double loadRisk = 0;    // load-risk's score for the VM there (lower is better)
    double dayP95 = 0;      // the node's p95 CPU utilisation over its last day
    double future = 0;      // the VM's p95 slowdown there over its lookahead
  };
  struct DecisionRecord {
    std::string arrival, chosen;
    std::vector<Candidate> candidates;
  };
  std::vector<DecisionRecord> decisions;
};

struct PlacementBenchReport {
  double utilisation = 0;  // reached
  bool interference = true;
  // requests, load-packing, load-risk, day-peak, forecast-only, umbra, umbra-static, oracle
  std::vector<PlacerResult> placers;
};

// `models` decide for forecast-only and Umbra (the operator's ModelForecaster over simulated node
// history and shadow telemetry).
Result<PlacementBenchReport> runPlacementBench(
    const sim::ClusterSpec& cluster, const sim::TraceSet& traces,
    const std::shared_ptr<const ForecastModels>& models, const PlacementBenchOptions& options,
    const std::function<void(const std::string&)>& progress = {});

}  // namespace umbra::model
