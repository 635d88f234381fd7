// The subcommands of `umbra` (main.cc parses their flags with CLI11).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "training/lstm.h"

namespace umbra::model {
struct ForecastModels;
struct PlacementBenchOptions;
}  // namespace umbra::model

namespace umbra::cli {

struct TrainFlags {
  std::string traces, prometheus, series;  // exactly one
  std::string traceHalf = "all";           // with traces
  std::string window = "7d";
  std::string out;
  std::string trainingRange;
  int horizonSteps = 6;
  int epochs = model::LstmOptions{}.maxEpochs;
  int seed = 1;
  int batch = model::LstmOptions{}.batch;
  int stepsPerEpoch = model::LstmOptions{}.stepsPerEpoch;
  int hidden = model::LstmOptions{}.hidden;
  int windowSteps = model::LstmOptions{}.window;
  int periodSteps = model::LstmOptions{}.period;
  int threads = model::LstmOptions{}.threads;
};
int train(const TrainFlags& f);

struct TrainContentionFlags {
  std::string traces, cluster, out, demandModel, outcomes, saveOutcomes;
  std::string traceHalf = "all";
  int count = 600;
  // Background loads, %: the outcomes are split evenly between them (the first takes the rest).
  std::vector<int> utilisation{50};
  // Multiples of the cluster file's physics.interference: the outcomes are split evenly between
  // every (load, multiple) pair. A product does not know its hardware's interference strength.
  std::vector<double> interferenceScale{1.0};
  int seed = 1;
  int observeSeconds = 300;        // each shadow's observation (spec.observationDuration)
  double shadowCpuFraction = 0.01;  // each shadow's CPU limit, of the target's (spec.shadow.cpuFraction)
  int windowSteps = 6;             // the outcome window, 300 s steps
  std::string statistic = "mean";  // of the CPU outcome over the window: mean | p95
  std::string nodeHistory = "node";  // or "co-runners" (SimOutcomeOptions::coRunnerHistory)
  int churnEverySeconds = 0;         // passers-by (SimOutcomeOptions::churnEverySeconds), 0: none
  int churnLifetimeSeconds = 24 * 3600;
  // Each (load, multiple) block split between worlds seeded --seed, --seed + 1, ...
  int worlds = 1;
};
int trainContention(const TrainContentionFlags& f);

struct BenchForecastFlags {
  std::string traces, json, target = "both", exportSeries, forecasts;
  std::string networks;  // a folder of trained networks to reuse (and to save new ones to)
  int horizonSteps = 6;
  int originStride = 6;
  int seriesLimit = 0;
  int epochs = model::LstmOptions{}.maxEpochs;
};
int benchForecast(const BenchForecastFlags& f);

struct BenchPlacementFlags {
  std::string traces, cluster, json, demandModel, contentionModel;
  std::vector<int> utilisation{15, 25};
  std::string interference = "both";
  std::string traceHalf = "all";
  std::vector<int> seeds{1};
  int arrivals = 48;
  int oracleLookaheadHours = 24;
  int candidates = 3;  // Umbra's shadows per placement: spec.candidates.count (default 3)
  double shadowCpuFraction = 0.01;  // each shadow's CPU limit, of the target's (spec.shadow.cpuFraction)
  bool commonWorld = false;  // every placer decides from one shared state (bench_common_world.cc)
  std::string nodeHistory = "co-runners";  // or "node" (PlacementBenchOptions::coRunnerHistory)
  // spec.scoring.weights for forecast-only and Umbra: cpu, memory, disk, network.
  std::vector<double> scoringWeights{0.4, 0.2, 0.2, 0.2};
};
int benchPlacement(const BenchPlacementFlags& f);
// One run's options: the flags, at `level` % background, the interference on or off, `seed`.
model::PlacementBenchOptions placementOptions(const BenchPlacementFlags& f, int level, bool on,
                                              int seed);
// The placement report's JSON before any run: what was run, with which model (`modelName`).
nlohmann::json placementReportHead(const BenchPlacementFlags& f, const std::string& modelName);
// --common-world: every placer decides from one shared state (offline/common_world.h).
struct SimInputs;
int benchCommonWorld(const BenchPlacementFlags& f, const SimInputs& inputs,
                     const std::shared_ptr<const model::ForecastModels>& models,
                     const std::vector<bool>& interferenceModes);

struct BenchScalingFlags {
  std::string traces, json, networks, plotSeries;
  int seriesLimit = 0;
  int epochs = model::LstmOptions{}.maxEpochs;
  int seed = 1;
  int threads = 2;
};
int benchScaling(const BenchScalingFlags& f);

struct BenchPoolFlags {
  std::string traces, json;
  int seriesLimit = 0;
  int seed = 1;
  int threads = 2;
  double announcedShare = 0.5;
};
int benchPool(const BenchPoolFlags& f);

struct BenchRebalanceFlags {
  std::string traces, cluster = "examples/clusters/medium.yaml", json, traceHalf = "all";
  std::vector<int> seeds = {1, 2, 3};
  double utilisation = 55;  // %
  double hours = 24, warmupHours = 48;
};
int benchRebalance(const BenchRebalanceFlags& f);

struct BenchInstancetypesFlags {
  std::string traces, json, traceHalf = "all";
  std::vector<int> seeds = {1, 2, 3};
  double dedicatedPremium = 0.15;
};
int benchInstancetypes(const BenchInstancetypesFlags& f);

// "umbra: <message>" on stderr; exit code 1.
int fail(const std::string& message);
// A benchmark's end: its report written (atomically) to `path` if one was given; 0, or fail().
int finishReport(const std::string& path, const nlohmann::json& report);

}  // namespace umbra::cli
