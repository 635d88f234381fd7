// The common-world placement benchmark (offline/common_world.h) and the clairvoyant node futures
// it judges choices by.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include "fakes/sine_traces.h"
#include "offline/common_world.h"
#include "offline/placers.h"
#include "sim/files.h"

namespace umbra::model {
namespace {

using testing::sineTraces;

// A VM whose CPU demand is a steady `level` of its vCPUs.
sim::WorkloadSpec steadyVm(const std::string& id, double vcpus, double level,
                           const std::string& cls = "neutral") {
  sim::WorkloadSpec w;
  w.id = id;
  w.vcpus = vcpus;
  w.memoryBytes = 2.0 * (1 << 30);
  w.interferenceClass = cls;
  w.source.kind = sim::SourceKind::Profile;
  w.source.level = level;
  return w;
}

std::shared_ptr<ForecastModels> lastValueModels() {
  auto models = std::make_shared<ForecastModels>();
  models->demand = lastValue();
  models->demandName = "baseline/last-value";
  return models;
}

// Every placer is judged in each decision from one state: nobody beats the oracle, which takes the
// lowest future of every feasible node; the same node gets the same judgement whoever chose it;
// the world follows the placers in turn; only Umbra pays for shadows; the same seed gives the same
// report; an arrival that fits nowhere is counted, never an abort.
TEST(CommonWorld, EveryPlacerIsJudgedFromOneStateAndNoneBeatsTheOracle) {
  auto cluster = sim::loadCluster(std::string(UMBRA_SOURCE_DIR) + "/examples/clusters/small.yaml");
  ASSERT_TRUE(cluster.ok()) << cluster.error().message;
  const sim::TraceSet traces = sineTraces();
  PlacementBenchOptions o;
  o.utilisation = 0.25;
  o.arrivals = 10;
  o.lifetimeSeconds = 4 * 3600;
  o.oracleLookaheadSeconds = 4 * 3600;
  const auto models = lastValueModels();
  auto a = runCommonWorld(*cluster, traces, models, o);
  ASSERT_TRUE(a.ok()) << a.error().message;
  const std::vector<std::string> placers = {"requests",  "load-packing",  "load-risk",
                                            "day-peak",  "forecast-only", "umbra",
                                            "mix-aware", "oracle"};
  ASSERT_EQ(a->placers, placers);
  ASSERT_EQ(a->decisions.size(), 10u);
  EXPECT_TRUE(a->unschedulable.empty());
  EXPECT_GT(a->shadowCpuShare, 0);
  EXPECT_LT(a->shadowCpuShare, 0.02);
  std::set<std::string> distinct;
  size_t withNeighbours = 0, harmed = 0;
  for (size_t k = 0; k < a->decisions.size(); ++k) {
    const auto& d = a->decisions[k];
    EXPECT_EQ(d.followed, placers[k % placers.size()]) << d.arrival;
    ASSERT_EQ(d.choices.size(), placers.size());
    EXPECT_GT(d.feasible, 1u);
    const CommonWorldChoice& oracle = d.choices.back();
    ASSERT_EQ(oracle.placer, "oracle");
    std::map<std::string, const CommonWorldChoice*> byNode;
    for (size_t p = 0; p < placers.size(); ++p) {
      const CommonWorldChoice& c = d.choices[p];
      EXPECT_EQ(c.placer, placers[p]);
      EXPECT_GE(c.future, oracle.future - 1e-12) << d.arrival << " " << c.placer;
      EXPECT_LE(c.future, 1) << d.arrival << " " << c.placer;
      if (const auto same = byNode.find(c.node); same != byNode.end()) {
        EXPECT_DOUBLE_EQ(c.future, same->second->future) << d.arrival << " " << c.node;
        EXPECT_DOUBLE_EQ(c.harm, same->second->harm) << d.arrival << " " << c.node;
      }
      byNode[c.node] = &c;
      distinct.insert(c.placer + "@" + c.node);
      withNeighbours += c.neighbours >= 0 ? 1 : 0;
      // The harm is what the arrival adds to its neighbours' slowdown, not their slowdown.
      if (c.neighbours > 0) {
        EXPECT_LT(c.harm, c.neighbours) << d.arrival << " " << c.placer;
      }
      harmed += c.harm > 0 ? 1 : 0;
    }
  }
  EXPECT_GT(withNeighbours, 0u);
  EXPECT_GT(harmed, 0u);
  // The placers do not all choose alike: there is something to compare.
  EXPECT_GT(distinct.size(), a->decisions.size());
  auto b = runCommonWorld(*cluster, traces, models, o);
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->decisions.size(), a->decisions.size());
  for (size_t k = 0; k < a->decisions.size(); ++k)
    for (size_t p = 0; p < placers.size(); ++p)
      EXPECT_DOUBLE_EQ(a->decisions[k].choices[p].future, b->decisions[k].choices[p].future);
  sim::ClusterSpec tight = *cluster;
  for (auto& n : tight.nodes)
    n.memoryBytes = 1.5 * (1 << 30);  // room for one 1 GiB VM on a few nodes at a time
  PlacementBenchOptions t = o;
  t.utilisation = 0.05;
  auto crowded = runCommonWorld(tight, traces, models, t);
  ASSERT_TRUE(crowded.ok()) << crowded.error().message;
  EXPECT_FALSE(crowded->unschedulable.empty());
  EXPECT_EQ(crowded->decisions.size() + crowded->unschedulable.size(), 10u);
}

// The harm a placement does: its neighbours' p95 slowdown with the arrival minus without it, on
// the node simulated alone. A busy VM joining a loaded node raises its neighbours' slowdown; an
// empty node has no neighbours.
TEST(CommonWorld, NodeFutureSeesWhatTheArrivalDoesToItsNeighbours) {
  auto cluster = sim::parseCluster(R"(
name: two
physics: {interference: 0.15, noise: 0}
nodes:
  - {name: loaded, cpu: 8, memory: 64Gi, background: {profile: steady, level: 0.1, memory: 0.1}}
  - {name: empty, cpu: 8, memory: 64Gi, background: {profile: steady, level: 0.0, memory: 0.1}}
)",
                                   "two.yaml");
  ASSERT_TRUE(cluster.ok()) << cluster.error().message;
  const sim::TraceSet traces = sineTraces();
  bench_detail::World w(*cluster, traces, 1);
  const size_t loaded = w.indexOf("loaded"), empty = w.indexOf("empty");
  for (int k = 0; k < 3; ++k)
    ASSERT_TRUE(w.add(steadyVm("bg/" + std::to_string(k), 4, 0.6), loaded).ok());
  w.stepFor(3600);
  const sim::WorkloadSpec vm = steadyVm("vm", 8, 0.9);
  const double hours = 4 * 3600;
  const auto with = bench_detail::nodeFuture(w, *cluster, traces, 1, &vm, loaded, hours, true);
  const auto without =
      bench_detail::nodeFuture(w, *cluster, traces, 1, nullptr, loaded, hours, true);
  ASSERT_EQ(with.neighbours.size(), 3u);
  ASSERT_EQ(without.neighbours.size(), 3u);
  EXPECT_LT(without.vm, 0);
  for (const auto& [id, p95] : with.neighbours)
    EXPECT_GT(p95, without.neighbours.at(id) + 1e-3) << id;
  EXPECT_DOUBLE_EQ(with.vm, bench_detail::futureSteal(w, *cluster, traces, 1, vm, loaded, hours));
  const auto alone = bench_detail::nodeFuture(w, *cluster, traces, 1, &vm, empty, hours, true);
  EXPECT_TRUE(alone.neighbours.empty());
  EXPECT_LT(alone.vm, with.vm);
}

// The node history the operator's forecaster reads in the benchmark, as the VMs on the node now
// would have made it: a VM that left after a day and more (the tracked window full, so old slots
// are trimmed) is taken out of its old node's history; a VM that came an hour ago is put into the
// day before it came, at its mean.
TEST(CommonWorld, TheCoRunnerHistoryFollowsTheVmsOnTheNodeNow) {
  auto cluster = sim::parseCluster(R"(
name: two
physics: {interference: 0, noise: 0, measurementNoise: 0}
nodes:
  - {name: a, cpu: 8, memory: 64Gi, background: {profile: steady, level: 0.1, memory: 0.1}}
  - {name: b, cpu: 8, memory: 64Gi, background: {profile: steady, level: 0.1, memory: 0.1}}
)",
                                   "two.yaml");
  ASSERT_TRUE(cluster.ok()) << cluster.error().message;
  const sim::TraceSet traces = sineTraces();
  bench_detail::World w(*cluster, traces, 1);
  const size_t a = w.indexOf("a"), b = w.indexOf("b");
  ASSERT_TRUE(w.place(steadyVm("big", 4, 0.75), a, 30 * 3600).ok());
  w.stepFor(30 * 3600);
  ASSERT_TRUE(w.place(steadyVm("fresh", 4, 0.5), b, 10 * 3600).ok());
  w.stepFor(3600);
  ASSERT_EQ(w.sim().workload("big"), nullptr) << "its lifetime is over";
  // a: "big" (3 cores) is in the node's own history, not in the co-runners'.
  EXPECT_GT(dayPeakOf(w.history(a)), 0.4);
  EXPECT_NEAR(dayPeakOf(w.coRunnerHistory(a)), 0.1, 0.02);
  // b: "fresh" (2 cores) stands in the day before it came.
  const size_t before = w.history(b).size() - 100;
  EXPECT_NEAR(w.history(b)[before], 0.1, 0.02);
  EXPECT_NEAR(w.coRunnerHistory(b)[before], 0.35, 0.03);
  EXPECT_NEAR(w.coRunnerHistory(b).back(), w.history(b).back(), 1e-9);
}

// The mix-aware yardstick reads what no placer can: the co-runners' interference classes. Of two
// nodes, the one with a little less load but cache-heavy co-runners (three times the pressure per
// unit of CPU) has the lower daily peak, so day-peak takes it; mix-aware takes the other.
TEST(CommonWorld, TheMixAwareYardstickSeesTheCoRunnersClasses) {
  auto cluster = sim::parseCluster(R"(
name: two
physics:
  interference: 0.15
  noise: 0
  classes:
    neutral: {sensitivity: 1, pressure: 1}
    cache-heavy: {sensitivity: 1.5, pressure: 3}
nodes:
  - {name: cachey, cpu: 16, memory: 64Gi, background: {profile: steady, level: 0.05, memory: 0.1}}
  - {name: calm, cpu: 16, memory: 64Gi, background: {profile: steady, level: 0.05, memory: 0.1}}
)",
                                   "two.yaml");
  ASSERT_TRUE(cluster.ok()) << cluster.error().message;
  const sim::TraceSet traces = sineTraces();
  bench_detail::World w(*cluster, traces, 1);
  for (int k = 0; k < 2; ++k) {
    const std::string n = std::to_string(k);
    ASSERT_TRUE(w.add(steadyVm("cachey/" + n, 4, 0.5, "cache-heavy"), w.indexOf("cachey")).ok());
    ASSERT_TRUE(w.add(steadyVm("calm/" + n, 4, 0.6), w.indexOf("calm")).ok());
  }
  w.stepFor(2 * 3600);
  const sim::WorkloadSpec vm = steadyVm("vm", 2, 0.5);
  const auto verdicts = w.classify(vm);
  const size_t cachey = w.indexOf("cachey"), calm = w.indexOf("calm");
  ASSERT_LT(bench_detail::dayP95(w, cachey), bench_detail::dayP95(w, calm));
  EXPECT_EQ(bench_detail::dayPeakChoice(w, vm, verdicts), cachey);
  EXPECT_NEAR(bench_detail::pressureMix(w, calm), 1.0, 1e-9);
  EXPECT_GT(bench_detail::pressureMix(w, cachey), 2.0);
  EXPECT_EQ(bench_detail::mixAwareChoice(w, vm, verdicts), calm);
  // And the clairvoyant future agrees that the calm node is the better one for the VM.
  EXPECT_LT(bench_detail::futureSteal(w, *cluster, traces, 1, vm, calm, 4 * 3600),
            bench_detail::futureSteal(w, *cluster, traces, 1, vm, cachey, 4 * 3600));
}

// Forecast-only and Umbra rank by the ShadowPlacement's spec.scoring weights
// (PlacementBenchOptions::scoring), as the operator does: by CPU alone, or by I/O wait alone,
// each from the same state, the lowest predicted one wins.
TEST(CommonWorld, ForecastOnlyAndUmbraRankByTheScoringWeights) {
  auto cluster = sim::parseCluster(R"(
name: three
physics: {interference: 0.15, noise: 0}
nodes:
  - {name: a, cpu: 8, memory: 64Gi, background: {profile: steady, level: 0.3, memory: 0.1}}
  - {name: b, cpu: 8, memory: 8Gi, disk: 4Mi, background: {profile: steady, level: 0.05, memory: 0.1}}
  - {name: c, cpu: 8, memory: 64Gi, background: {profile: steady, level: 0.2, memory: 0.1}}
)",
                                   "three.yaml");
  ASSERT_TRUE(cluster.ok()) << cluster.error().message;
  const sim::TraceSet traces = sineTraces();
  const auto world = [&] {
    auto w = std::make_unique<bench_detail::World>(*cluster, traces, 1);
    EXPECT_TRUE(w->add(steadyVm("busy", 4, 0.6), w->indexOf("c")).ok());
    // b: the least CPU, but a small disk that a light VM keeps half busy.
    EXPECT_TRUE(w->add(steadyVm("writer", 1, 0.2), w->indexOf("b")).ok());
    w->stepFor(2 * 3600);
    return w;
  };
  const sim::WorkloadSpec vm = steadyVm("vm", 2, 0.5);
  const api::ScoringWeights cpu{1, 0, 0, 0}, disk{0, 0, 1, 0};
  PlacementBenchOptions o;
  o.synthetic = false;  // Passive shadows: no probe noise in what the weights choose between
  {
    const auto w = world();
    ModelForecaster forecaster(lastValueModels(), bench_detail::forecasterHistory(*w, o), 6);
    for (const auto& weights : {cpu, disk}) {
      const auto d =
          bench_detail::forecastOnlyRanking(*w, forecaster, vm, w->classify(vm), weights);
      ASSERT_EQ(d.ranked.size(), 3u);
      for (const auto& r : d.ranked) {
        const double judged = weights.cpu > 0 ? r.predicted.cpuContention : r.predicted.ioWait;
        EXPECT_NEAR(r.score, 100 * (1 - std::clamp(judged, 0.0, 1.0)), 1e-9) << r.node;
      }
    }
  }
  // Umbra, from the same state each time: the node its own forecasts put lowest on the metric.
  const auto umbra = [&](const api::ScoringWeights& weights,
                         double placement::Contention::*metric) {
    const auto w = world();
    ModelForecaster forecaster(lastValueModels(), bench_detail::forecasterHistory(*w, o), 6);
    o.scoring = weights;
    auto choice = bench_detail::umbraChoice(*w, forecaster, vm, {"a", "b", "c"}, o);
    EXPECT_TRUE(choice.ok()) << choice.error().message;
    const auto lowest = std::min_element(
        choice->forecasts.begin(), choice->forecasts.end(),
        [&](const auto& x, const auto& y) { return x.predicted.*metric < y.predicted.*metric; });
    EXPECT_EQ(w->spec(choice->node).name, lowest->node);
    return lowest->node;
  };
  EXPECT_NE(umbra(cpu, &placement::Contention::cpuContention),
            umbra(disk, &placement::Contention::ioWait))
      << "the two weightings must disagree for the test to tell them apart";
}

}  // namespace
}  // namespace umbra::model
