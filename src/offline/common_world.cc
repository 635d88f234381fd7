// The common-world placement benchmark: every placer decides from one shared state
// (common_world.h).
#include "offline/common_world.h"

#include <algorithm>
#include <map>

#include "offline/placers.h"
#include "placement/candidates.h"

namespace umbra::model {
using namespace bench_detail;

namespace {

// The peers, Umbra, then the two clairvoyant yardsticks (the oracle last).
const std::vector<std::string> Placers = {"requests",      "load-packing", "load-risk", "day-peak",
                                          "forecast-only", "umbra",        "mix-aware", "oracle"};

// The harm of placing `vm` on node i: its neighbours' futures with it and without it.
void judgeNeighbours(World& w, const sim::ClusterSpec& cluster, const sim::TraceSet& traces,
                     const PlacementBenchOptions& o, const sim::WorkloadSpec& vm, size_t i,
                     CommonWorldChoice& c) {
  const NodeFuture with =
      nodeFuture(w, cluster, traces, o.seed, &vm, i, o.oracleLookaheadSeconds, true);
  if (with.neighbours.empty())
    return;
  const NodeFuture without =
      nodeFuture(w, cluster, traces, o.seed, nullptr, i, o.oracleLookaheadSeconds, true);
  double level = 0, increase = 0;
  for (const auto& [id, p95] : with.neighbours) {
    level += p95;
    increase += p95 - without.neighbours.at(id);
  }
  const double n = static_cast<double>(with.neighbours.size());
  c.neighbours = level / n;
  c.harm = increase / n;
}

}  // namespace

Result<CommonWorldReport> runCommonWorld(const sim::ClusterSpec& clusterIn,
                                         const sim::TraceSet& traces,
                                         const std::shared_ptr<const ForecastModels>& models,
                                         const PlacementBenchOptions& o) {
  UMBRA_TRY(const BenchSetup setup, benchSetup(clusterIn, traces, o));
  const sim::ClusterSpec& cluster = setup.cluster;
  CommonWorldReport report;
  report.interference = o.interference;
  report.placers = Placers;
  World w(cluster, traces, o.seed);
  UMBRA_CHECK(fill(w, traces, setup.ids, setup.classes, o.utilisation, o.seed, report.utilisation));
  w.stepFor(26 * 3600);  // a day of node history, and some
  ModelForecaster forecaster(models, forecasterHistory(w, o));
  double shadowCpu = 0, allocatedCpu = 0;
  const double start = w.sim().elapsed();
  for (size_t k = 0; k < setup.arrivals.size(); ++k) {
    const double at = start + static_cast<double>(k) * o.arrivalEverySeconds;
    w.stepFor(at - w.sim().elapsed());
    const sim::WorkloadSpec& vm = setup.arrivals[k];
    const auto before = w.classify(vm);
    if (before.empty() || !before.front().feasible) {
      report.unschedulable.push_back(vm.id);
      continue;
    }
    // Umbra observes first, choosing its candidates as the operator does; the cluster runs on.
    std::vector<std::string> byForecast;
    for (const auto& f : forecastOnlyRanking(w, forecaster, vm, before, o.scoring).ranked)
      byForecast.push_back(f.node);
    UMBRA_TRY(
        const Choice umbra,
        umbraChoice(w, forecaster, vm,
                    placement::mixedCandidates(
                        byForecast, placement::topCandidates(before, o.candidates), o.candidates),
                    o));
    shadowCpu += umbra.shadowCpuSeconds;
    allocatedCpu += vm.vcpus * o.lifetimeSeconds;
    report.extensions += umbra.extensions;
    // Then everyone chooses from this moment's state, and every feasible node's future is known.
    const auto verdicts = w.classify(vm);
    std::map<size_t, double> futures;
    for (const auto& v : verdicts) {
      if (v.feasible) {
        const size_t i = w.indexOf(v.node);
        futures[i] = futureSteal(w, cluster, traces, o.seed, vm, i, o.oracleLookaheadSeconds);
      }
    }
    if (futures.empty()) {  // not expected (the observation only lets VMs leave); counted if so
      report.unschedulable.push_back(vm.id);
      continue;
    }
    std::map<std::string, size_t> chosen;
    chosen["requests"] = w.indexOf(verdicts.front().node);
    chosen["load-packing"] = loadAwareChoice(w, vm, verdicts, o.targetLoad);
    chosen["load-risk"] =
        loadRiskChoice(w, vm, verdicts, o.riskMargin, o.riskSensitivity, o.riskWindowSlots);
    chosen["day-peak"] = dayPeakChoice(w, vm, verdicts);
    const auto nodeOnly = forecastOnlyRanking(w, forecaster, vm, verdicts, o.scoring);
    chosen["forecast-only"] =
        w.indexOf(nodeOnly.selected.empty() ? verdicts.front().node : nodeOnly.selected);
    chosen["umbra"] = umbra.node;
    chosen["mix-aware"] = mixAwareChoice(w, vm, verdicts);
    chosen["oracle"] = std::min_element(futures.begin(), futures.end(), [](auto& a, auto& b) {
                         return a.second < b.second;
                       })->first;
    CommonWorldDecision d;
    d.arrival = vm.id;
    d.feasible = futures.size();
    d.followed = Placers[k % Placers.size()];
    std::map<size_t, CommonWorldChoice> judged;  // per node: the same node, the same judgement
    for (const auto& name : Placers) {
      const size_t i = chosen.at(name);
      if (!judged.count(i)) {
        CommonWorldChoice c;
        c.node = w.spec(i).name;
        c.future = futures.count(i)
                       ? futures.at(i)
                       : futureSteal(w, cluster, traces, o.seed, vm, i, o.oracleLookaheadSeconds);
        judgeNeighbours(w, cluster, traces, o, vm, i, c);
        judged[i] = c;
      }
      CommonWorldChoice c = judged.at(i);
      c.placer = name;
      d.choices.push_back(std::move(c));
    }
    UMBRA_CHECK(w.place(vm, chosen.at(d.followed), o.lifetimeSeconds));
    report.decisions.push_back(std::move(d));
  }
  report.shadowCpuShare = allocatedCpu > 0 ? shadowCpu / allocatedCpu : 0;
  return report;
}

}  // namespace umbra::model
