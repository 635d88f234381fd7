#pragma once

// Internal to the placement benchmark: how each placer chooses a node in a World.
#include "model/model_forecaster.h"
#include "offline/bench_world.h"

namespace umbra::model::bench_detail {

struct Choice {
  size_t node = 0;
  double waitedSeconds = 0;                              // simulated time from arrival to placement
  double shadowCpuSeconds = 0, shadowMemorySeconds = 0;  // cores x s, bytes x s
  int extensions = 0;
  // Umbra's stated confidence in its choice, and whether the choice was right: the chosen node's
  // p95 slowdown over the VM's lookahead within CalibrationTolerance of the best probed
  // candidate's. confidence < 0: not a probing placer.
  double confidence = -1;
  bool right = false;
  std::vector<std::string> probed;  // the candidates it probed
  // What the shadows predicted for each candidate (Umbra's placers).
  std::vector<placement::CandidateForecast> forecasts;
};

// A choice within one point of steal of the best candidate's counts as right.
inline constexpr double CalibrationTolerance = 0.01;

// What every run of one condition shares: the cluster (the hidden interference zeroed when off),
// the traces' ids, the workload classes and the arrivals (the same for every placer). Errors
// name what is wrong (no nodes, no traces, arrivals closer than Umbra's longest observation).
struct BenchSetup {
  sim::ClusterSpec cluster;
  std::vector<std::string> ids, classes;
  std::vector<sim::WorkloadSpec> arrivals;
};
Result<BenchSetup> benchSetup(const sim::ClusterSpec& cluster, const sim::TraceSet& traces,
                              const PlacementBenchOptions& o);

// What runs on node `i` meets over `lookahead` if `vm` joins it now (vm null: if nothing does),
// clairvoyantly: the p95 of 300 s mean slowdowns of the VM (-1 without one; 1e9 when it does not
// fit) and, with `neighbours`, of each workload already there. The node is simulated alone (its
// physics depend only on what runs on it); later arrivals are unknown.
struct NodeFuture {
  double vm = -1;
  std::map<std::string, double> neighbours;
};
NodeFuture nodeFuture(World& w, const sim::ClusterSpec& cluster, const sim::TraceSet& traces,
                      uint64_t seed, const sim::WorkloadSpec* vm, size_t i, double lookahead,
                      bool neighbours);

// The p95 of the VM's 300 s mean slowdowns over `lookahead` on node `i` with what runs there now
// (clairvoyant).
double futureSteal(World& w, const sim::ClusterSpec& cluster, const sim::TraceSet& traces,
                   uint64_t seed, const sim::WorkloadSpec& vm, size_t i, double lookahead);

size_t oracleChoice(World& w, const sim::ClusterSpec& cluster, const sim::TraceSet& traces,
                    uint64_t seed, const sim::WorkloadSpec& vm,
                    const std::vector<placement::Verdict>& verdicts, double lookahead);
size_t loadAwareChoice(World& w, const sim::WorkloadSpec& vm,
                       const std::vector<placement::Verdict>& verdicts, double target);
// The risk LoadVariationRiskBalancing gives node i for the VM (below), and the 95th percentile of
// the node's CPU utilisation over its last day of 300 s slots.
double loadRisk(World& w, const sim::WorkloadSpec& vm, size_t i, double margin, double sensitivity,
                size_t windowSlots);
double dayP95(World& w, size_t i);
// Peak-aware spreading: the node whose daily peak (dayP95) plus the VM's CPU request, as a share
// of the node, is lowest. Not a published scheduler: built because Umbra's recorded decisions
// showed the daily peak ranking its candidates well (bench/README.md).
size_t dayPeakChoice(World& w, const sim::WorkloadSpec& vm,
                     const std::vector<placement::Verdict>& verdicts);

// A clairvoyant yardstick, not a peer: the node's co-runners' interference-class mix now (their
// cache and memory-bandwidth pressure per unit of CPU, the background counting as neutral), what
// a noise-free probe would read once divided by the load, hidden from every placer. The node
// whose daily peak (dayP95 plus the VM's share) times that mix is lowest wins: the interference
// the VM would meet at the node's peak if the mix stayed as it is.
double pressureMix(World& w, size_t i);
size_t mixAwareChoice(World& w, const sim::WorkloadSpec& vm,
                      const std::vector<placement::Verdict>& verdicts);

size_t loadRiskChoice(World& w, const sim::WorkloadSpec& vm,
                      const std::vector<placement::Verdict>& verdicts, double margin,
                      double sensitivity, size_t windowSlots);
placement::Decision forecastOnlyRanking(World& w, ModelForecaster& forecaster,
                                        const sim::WorkloadSpec& vm,
                                        const std::vector<placement::Verdict>& verdicts,
                                        const api::ScoringWeights& scoring);
Result<Choice> umbraChoice(World& w, ModelForecaster& forecaster, const sim::WorkloadSpec& vm,
                           const std::vector<std::string>& candidates,
                           const PlacementBenchOptions& o);

}  // namespace umbra::model::bench_detail
