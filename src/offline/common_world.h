#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "offline/placement_bench.h"

namespace umbra::model {

// `umbra bench placement --common-world`: every placer decides in one shared world, from the same
// state, and each choice is judged by its clairvoyant future there. In the per-placer runs of
// runPlacementBench, one different choice sends the world down another path, and the seeds'
// paths swing the headline more than the placers do. Here only the decisions differ.
//
// At each arrival Umbra observes its candidates first (its shadows run while the cluster runs on),
// then every placer chooses from the world as it is at that moment, the peers from what they read
// (node history, requests), Umbra with what its shadows saw too. Each feasible node's future with
// the arrival on it is simulated over the oracle's lookahead (bench_detail::nodeFuture); the
// oracle picks the lowest. "mix-aware" is a second clairvoyant yardstick: the day-peak rule told
// the co-runners' hidden interference-class mix (bench_detail::mixAwareChoice), what a perfect
// probe could add to what the node's history shows. The arrival is then placed where one placer
// chose, the placers taking turns (arrival i follows placer i mod the placers' count), so the
// world's path is nobody's.
struct CommonWorldChoice {
  std::string placer, node;
  double future = 0;  // the arrival's p95 slowdown there over the lookahead
  // Harm: over the workloads on that node, the mean p95 slowdown with the arrival and the mean
  // increase it causes (with it minus without it); -1 and 0 on an empty node.
  double neighbours = -1, harm = 0;
};

struct CommonWorldDecision {
  std::string arrival;
  std::string followed;                    // the placer whose choice the world took
  size_t feasible = 0;                     // feasible nodes
  std::vector<CommonWorldChoice> choices;  // one per placer, in CommonWorldReport::placers order
};

struct CommonWorldReport {
  double utilisation = 0;  // reached
  bool interference = true;
  std::vector<std::string> placers;  // requests ... forecast-only, umbra, mix-aware, oracle
  std::vector<CommonWorldDecision> decisions;
  std::vector<std::string> unschedulable;
  double shadowCpuShare = 0;  // Umbra's shadows, of the arrivals' CPU-hours
  int extensions = 0;         // Umbra's observation extensions, summed
};

Result<CommonWorldReport> runCommonWorld(const sim::ClusterSpec& cluster,
                                         const sim::TraceSet& traces,
                                         const std::shared_ptr<const ForecastModels>& models,
                                         const PlacementBenchOptions& options);

}  // namespace umbra::model
