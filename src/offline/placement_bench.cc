#include "offline/placement_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "offline/placers.h"
#include "offline/sim_outcomes.h"
#include "placement/candidates.h"
#include "placement/scoring.h"

namespace umbra::model {
using namespace bench_detail;

Result<PlacementBenchReport> runPlacementBench(
    const sim::ClusterSpec& clusterIn, const sim::TraceSet& traces,
    const std::shared_ptr<const ForecastModels>& models, const PlacementBenchOptions& o,
    const std::function<void(const std::string&)>& progress) {
  UMBRA_TRY(const BenchSetup setup, benchSetup(clusterIn, traces, o));
  const sim::ClusterSpec& cluster = setup.cluster;
  const std::vector<std::string>& ids = setup.ids;
  const std::vector<std::string>& classes = setup.classes;
  const std::vector<sim::WorkloadSpec>& arrivals = setup.arrivals;
  PlacementBenchReport report;
  report.interference = o.interference;
  // "umbra" chooses candidates as the operator does (WorldReader::rankByForecast and
  // planSelectCandidates): the node forecast's favourites and the requests' in turn
  // (placement::mixedCandidates). "umbra-static" probes the requests' top only, as the operator
  // does when it cannot forecast the nodes (an ablation).
  const std::vector<std::string> placers = {"requests",     "load-packing",  "load-risk",
                                            "day-peak",     "forecast-only", "umbra",
                                            "umbra-static", "oracle"};
  for (const auto& placer : placers) {
    World w(cluster, traces, o.seed);
    UMBRA_CHECK(fill(w, traces, ids, classes, o.utilisation, o.seed, report.utilisation));
    w.stepFor(26 * 3600);  // a day of node history, and some
    ModelForecaster forecaster(models, forecasterHistory(w, o));
    w.startMeasuring();
    PlacerResult r;
    r.placer = placer;
    double shadowCpu = 0, shadowMemory = 0, allocatedCpu = 0, allocatedMemory = 0, waited = 0;
    int extensions = 0;
    double compute = 0;
    std::map<std::string, std::string> nodeOf;
    const double start = w.sim().elapsed();
    for (size_t i = 0; i < arrivals.size(); ++i) {
      const double at = start + static_cast<double>(i) * o.arrivalEverySeconds;
      w.stepFor(at - w.sim().elapsed());
      const auto& vm = arrivals[i];
      const auto verdicts = w.classify(vm);
      if (verdicts.empty() || !verdicts.front().feasible) {
        r.unschedulable.push_back(vm.id);  // the same rule for every placer
        continue;
      }
      const auto t0 = std::chrono::steady_clock::now();
      Choice c;
      placement::Decision nodeOnly;  // "umbra": the node forecast's ranking of every feasible node
      if (placer == "requests") {
        c.node = w.indexOf(verdicts.front().node);
      } else if (placer == "load-packing") {
        c.node = loadAwareChoice(w, vm, verdicts, o.targetLoad);
      } else if (placer == "load-risk") {
        c.node =
            loadRiskChoice(w, vm, verdicts, o.riskMargin, o.riskSensitivity, o.riskWindowSlots);
      } else if (placer == "day-peak") {
        c.node = dayPeakChoice(w, vm, verdicts);
      } else if (placer == "forecast-only") {
        const auto d = forecastOnlyRanking(w, forecaster, vm, verdicts, o.scoring);
        c.node = w.indexOf(d.selected.empty() ? verdicts.front().node : d.selected);
      } else if (placer == "umbra") {
        std::vector<std::string> byForecast;
        nodeOnly = forecastOnlyRanking(w, forecaster, vm, verdicts, o.scoring);
        for (const auto& f : nodeOnly.ranked)
          byForecast.push_back(f.node);
        const auto byStatic = placement::topCandidates(verdicts, o.candidates);
        UMBRA_TRY(c,
                  umbraChoice(w, forecaster, vm,
                              placement::mixedCandidates(byForecast, byStatic, o.candidates), o));
      } else if (placer == "umbra-static") {
        UMBRA_TRY(
            c, umbraChoice(w, forecaster, vm, placement::topCandidates(verdicts, o.candidates), o));
      } else {
        c.node = oracleChoice(w, cluster, traces, o.seed, vm, verdicts, o.oracleLookaheadSeconds);
      }
      compute += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (c.confidence >= 0) {
        // Was the choice right? Each probed candidate's future with the VM on it, clairvoyantly.
        double best = 1e9, chosen = 1e9;
        const bool recorded = placer == "umbra";  // only "umbra" records its decisions
        PlacerResult::DecisionRecord record{vm.id, w.spec(c.node).name, {}};
        for (const auto& name : c.probed) {
          const size_t i = w.indexOf(name);
          const double steal =
              futureSteal(w, cluster, traces, o.seed, vm, i, o.oracleLookaheadSeconds);
          best = std::min(best, steal);
          if (i == c.node)
            chosen = steal;
          if (!recorded)
            continue;
          PlacerResult::Candidate k;
          k.node = name;
          k.future = steal;
          for (const auto& f : c.forecasts)
            if (f.node == name) {
              k.shadowSteal = f.predicted.cpuContention;
              k.shadowStderr = f.cpuStderr;
              k.shadowModelSd = f.cpuModelSd;
            }
          for (const auto& f : nodeOnly.ranked)
            if (f.node == name)
              k.nodeSteal = f.predicted.cpuContention;
          k.loadRisk = loadRisk(w, vm, i, o.riskMargin, o.riskSensitivity, o.riskWindowSlots);
          k.dayP95 = dayP95(w, i);
          record.candidates.push_back(std::move(k));
        }
        if (recorded)
          r.decisions.push_back(std::move(record));
        c.right = chosen <= best + CalibrationTolerance;
        r.calibration.emplace_back(c.confidence, c.right);
      }
      UMBRA_CHECK(w.place(vm, c.node, o.lifetimeSeconds));
      nodeOf[vm.id] = w.spec(c.node).name;
      shadowCpu += c.shadowCpuSeconds;
      shadowMemory += c.shadowMemorySeconds;
      allocatedCpu += vm.vcpus * o.lifetimeSeconds;
      allocatedMemory += vm.memoryBytes * o.lifetimeSeconds;
      waited += c.waitedSeconds;
      extensions += c.extensions;
    }
    while (!w.allFinished())
      w.step();
    std::vector<double> all;
    size_t placed = 0, withNeighbours = 0;
    for (const auto& vm : arrivals) {
      const auto found = w.finished().find(vm.id);
      if (found == w.finished().end())
        continue;  // unschedulable
      const Tracked& t = found->second;
      ++placed;
      PlacedVm p;
      p.id = vm.id;
      p.node = nodeOf[vm.id];
      p.vcpus = vm.vcpus;
      p.memoryBytes = vm.memoryBytes;
      double sum = 0;
      for (const double s : t.slotSteal) {
        sum += s;
        all.push_back(s);
        p.minutesOverSlo += s > o.sloSteal ? Slot / 60 : 0;
      }
      p.meanSteal = t.slotSteal.empty() ? 0 : sum / static_cast<double>(t.slotSteal.size());
      p.p95Steal = percentileOf(t.slotSteal, 0.95);
      p.p95IoWait = percentileOf(t.slotIo, 0.95);
      // Harm: its neighbours' p95 steal over the slots it lived.
      double harm = 0;
      int counted = 0;
      for (const auto& id : t.neighbours) {
        const auto it = w.series().find(id);
        if (it == w.series().end())
          continue;
        const StealSeries& ns = it->second;
        std::vector<double> during;
        for (size_t k = 0; k < t.slotSteal.size(); ++k) {
          const size_t slot = t.firstSlot + k;
          if (slot >= ns.firstSlot && slot - ns.firstSlot < ns.slots.size())
            during.push_back(ns.slots[slot - ns.firstSlot]);
        }
        if (!during.empty()) {
          harm += percentileOf(during, 0.95);
          ++counted;
        }
      }
      if (counted > 0) {
        p.neighbourP95 = harm / counted;
        r.neighbourP95 += p.neighbourP95;
        ++withNeighbours;
      }
      r.meanP95Steal += p.p95Steal;
      r.meanSteal += p.meanSteal;
      r.minutesOverSlo += p.minutesOverSlo;
      r.p95IoWait += p.p95IoWait;
      r.vms.push_back(std::move(p));
    }
    const double n = static_cast<double>(std::max<size_t>(1, placed));
    r.neighbourP95 /= static_cast<double>(std::max<size_t>(1, withNeighbours));
    r.meanP95Steal /= n;
    r.meanSteal /= n;
    r.p95IoWait /= n;
    r.p95AllSteal = percentileOf(all, 0.95);
    r.imbalance = w.imbalance();
    r.shadowCpuShare = allocatedCpu > 0 ? shadowCpu / allocatedCpu : 0;
    r.shadowMemoryShare = allocatedMemory > 0 ? shadowMemory / allocatedMemory : 0;
    r.decisionSeconds = waited / n;
    r.computeSeconds = compute / n;
    r.extensions = extensions / n;
    if (progress)
      progress(placer);
    report.placers.push_back(std::move(r));
  }
  return report;
}

}  // namespace umbra::model
