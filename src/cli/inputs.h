#pragma once

// What the subcommands share: trace series, simulation inputs, training progress.
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "model/contention_map.h"
#include "model/evaluation.h"
#include "sim/cluster.h"
#include "sim/trace.h"
#include "training/lstm.h"

namespace umbra::cli {

// Series of one utilisation column (cpu or memory). Skipped, and counted in `skipped`: series
// shorter than three days (a daily season needs them), without data in the column (all zero), or
// constant (no error scale: MASE is undefined).
struct SkippedSeries {
  int tooShort = 0, absent = 0, constant = 0;
  int total() const { return tooShort + absent + constant; }
  std::string describe() const;  // "3 (fewer than three days: 1, no data: 1, constant: 1)"
};
std::vector<model::EvalSeries> seriesOf(const sim::TraceSet& set, const std::string& target,
                                        int limit, SkippedSeries* skipped = nullptr);

// --traces and --cluster, loaded and checked against each other.
struct SimInputs {
  sim::TraceSet traces;
  sim::ClusterSpec cluster;
};
// Keeps the series of half "a" or "b" of a fixed split by a hash of the series id, and those in
// `always`.
void keepHalf(sim::TraceSet& traces, const std::string& half,
              const std::set<std::string>& always = {});

// `half` ("all", "a" or "b"): keep only the VM traces in that half of a fixed split by a hash of
// the series id (the traces a cluster file's node backgrounds replay are always kept), so that
// a model is trained on one half and benchmarked on the other.
Result<SimInputs> simInputs(const std::string& traces, const std::string& cluster,
                            const std::string& half = "all");

void printEpoch(const model::EpochReport& e);

// `umbra train-contention`'s outcomes: `total` simulated placements split evenly between `levels`
// background loads (the first takes the remainder).
std::vector<size_t> outcomesPerLevel(size_t total, size_t levels);

// One block of train-contention's simulated outcomes: a background load on the cluster with its
// physics.interference multiplied by `scale`, in world number `world`, simulated with `seed`.
struct ContentionLevel {
  int load = 0;  // %
  double scale = 1;
  sim::ClusterSpec cluster;
  size_t outcomes = 0;
  int world = 0;
  uint64_t seed = 1;
};
// Every (load, multiple, world) triple, loads outermost and worlds innermost, `total` outcomes
// shared out (outcomesPerLevel). Several worlds: the same load in differently drawn clusters
// (background VMs, their traces and nodes, the arrivals), world w seeded `seed` + w.
std::vector<ContentionLevel> contentionLevels(const sim::ClusterSpec& cluster,
                                              const std::vector<int>& loads,
                                              const std::vector<double>& scales, size_t total,
                                              int worlds = 1, uint64_t seed = 1);

// Blocks of time-ordered outcomes (one per background load, then the recorded ones): the newest
// fifth of each judges a mapping fitted on the rest, so that every load is judged; `all` is every
// outcome, block after block.
struct JudgedOutcomes {
  std::vector<model::Outcome> fit, judge, all;
};
JudgedOutcomes splitForJudging(const std::vector<std::vector<model::Outcome>>& blocks);

}  // namespace umbra::cli
