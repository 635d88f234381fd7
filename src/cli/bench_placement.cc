// umbra bench placement: every placer on the same simulated cluster, arrivals and seed, at each
// utilisation, with the interference on and off, over several seeds. "Steal" in the JSON is the
// VMs' slowdown (run-queue delay and interference, the simulator's ground truth). Markdown on
// stdout (each run, then a summary against the best peer of each run), JSON with every VM.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/inputs.h"
#include "common/atomic_file.h"
#include "model/contention_map.h"
#include "model/lstm_net.h"
#include "offline/paired_intervals.h"
#include "offline/placement_bench.h"

namespace umbra::cli {

using nlohmann::json;

namespace {

// The peers Umbra is compared with: the best of them in each run is the yardstick.
const std::vector<std::string> Peers = {"requests", "load-packing", "load-risk", "day-peak",
                                        "forecast-only"};

const model::PlacerResult* find(const model::PlacementBenchReport& r, const std::string& name) {
  for (const auto& p : r.placers) {
    if (p.placer == name)
      return &p;
  }
  return nullptr;
}

json placerJson(const model::PlacerResult& r) {
  json vms = json::array();
  for (const auto& v : r.vms)
    vms.push_back({{"id", v.id},
                   {"node", v.node},
                   {"vcpus", v.vcpus},
                   {"meanSteal", v.meanSteal},
                   {"p95Steal", v.p95Steal},
                   {"minutesOverSlo", v.minutesOverSlo},
                   {"p95IoWait", v.p95IoWait},
                   {"neighbourP95", v.neighbourP95}});
  json decisions = json::array();
  for (const auto& d : r.decisions) {
    json candidates = json::array();
    for (const auto& k : d.candidates)
      candidates.push_back({{"node", k.node},
                            {"shadowSteal", k.shadowSteal},
                            {"shadowStderr", k.shadowStderr},
                            {"shadowModelSd", k.shadowModelSd},
                            {"nodeSteal", k.nodeSteal},
                            {"loadRisk", k.loadRisk},
                            {"nodeDayP95", k.dayP95},
                            {"future", k.future}});
    decisions.push_back({{"arrival", d.arrival}, {"chosen", d.chosen}, {"candidates", candidates}});
  }
  return {{"placer", r.placer},
          {"meanP95Steal", r.meanP95Steal},
          {"meanSteal", r.meanSteal},
          {"p95AllSteal", r.p95AllSteal},
          {"minutesOverSlo", r.minutesOverSlo},
          {"p95IoWait", r.p95IoWait},
          {"imbalance", r.imbalance},
          {"shadowCpuShare", r.shadowCpuShare},
          {"shadowMemoryShare", r.shadowMemoryShare},
          {"decisionSeconds", r.decisionSeconds},
          {"computeSeconds", r.computeSeconds},
          {"extensions", r.extensions},
          {"neighbourP95", r.neighbourP95},
          {"unschedulable", r.unschedulable},
          {"vms", vms},
          {"decisions", decisions}};
}

void printRun(const model::PlacementBenchReport& report, int level, bool on, int seed) {
  std::printf(
      "## Background %d %% (reached %.1f %% mean node CPU), hidden interference %s, seed %d\n\n",
      level, 100 * report.utilisation, on ? "on" : "off", seed);
  std::printf(
      "| placer | mean p95 slowdown | mean slowdown | p95 of all 5-min slowdown | minutes over SLO "
      "(slowdown > 10 %%) | neighbours' p95 slowdown | unschedulable | p95 iowait | node CPU "
      "imbalance "
      "(sd) | shadow CPU-h %% | decision latency (sim s) | decision compute (ms) |\n"
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
  for (const auto& r : report.placers)
    std::printf(
        "| %s | %.4f | %.4f | %.4f | %.0f | %.4f | %zu | %.4f | %.4f | %.3f | %.0f | %.1f |\n",
        r.placer.c_str(), r.meanP95Steal, r.meanSteal, r.p95AllSteal, r.minutesOverSlo,
        r.neighbourP95, r.unschedulable.size(), r.p95IoWait, r.imbalance, 100 * r.shadowCpuShare,
        r.decisionSeconds, 1000 * r.computeSeconds);
  std::printf("\n");
}

// Calibration: does the stated confidence match how often the choice was right (within one point
// of p95 slowdown of the best probed candidate over the VM's next 24 h)? Over every seed's
// decisions.
json printCalibration(const std::string& placer,
                      const std::vector<std::pair<double, bool>>& decisions) {
  struct Bin {
    double lo, hi;
    int n = 0, right = 0;
    double stated = 0;
  };
  std::vector<Bin> bins = {{0, 0.5}, {0.5, 0.7}, {0.7, 0.9}, {0.9, 1.0001}};
  double brier = 0, ece = 0;
  for (const auto& [conf, right] : decisions) {
    brier += (conf - (right ? 1 : 0)) * (conf - (right ? 1 : 0));
    for (auto& b : bins) {
      if (conf >= b.lo && conf < b.hi) {
        ++b.n;
        b.right += right ? 1 : 0;
        b.stated += conf;
      }
    }
  }
  const double total = static_cast<double>(decisions.size());
  std::printf(
      "Calibration of %s (stated confidence vs choice right):\n\n"
      "| stated confidence | decisions | mean stated | right |\n| --- | --- | --- | --- |\n",
      placer.c_str());
  json bj = json::array();
  for (const auto& b : bins) {
    const double stated = b.n ? b.stated / b.n : 0, right = b.n ? double(b.right) / b.n : 0;
    ece += b.n / total * std::abs(stated - right);
    std::printf("| [%.1f, %.1f) | %d | %.2f | %.2f |\n", b.lo, std::min(1.0, b.hi), b.n, stated,
                right);
    bj.push_back({{"lo", b.lo}, {"n", b.n}, {"meanStated", stated}, {"right", right}});
  }
  std::printf("\nBrier score %.3f, expected calibration error %.3f over %zu decisions\n\n",
              brier / total, ece, decisions.size());
  return {{"bins", bj}, {"brier", brier / total}, {"ece", ece}};
}

// Over the runs (seeds) of one condition: one of Umbra's placers against the best peer of each
// run.
json printSummary(const std::vector<model::PlacementBenchReport>& runs, int level, bool on,
                  const std::string& prober) {
  std::vector<model::PairedVm> pairs;
  json bestPeers = json::array();
  double harmUmbra = 0, harmPeer = 0, shadowCpu = 0;
  for (size_t k = 0; k < runs.size(); ++k) {
    const model::PlacerResult* best = nullptr;
    for (const auto& name : Peers) {
      const auto* p = find(runs[k], name);
      if (p && (!best || p->meanP95Steal < best->meanP95Steal))
        best = p;
    }
    const auto* um = find(runs[k], prober);
    const auto* orc = find(runs[k], "oracle");
    if (!best || !um || !orc)
      continue;
    bestPeers.push_back(best->placer);
    harmUmbra += um->neighbourP95;
    harmPeer += best->neighbourP95;
    shadowCpu += um->shadowCpuShare;
    std::map<std::string, double> peerOf, oracleOf;
    for (const auto& v : best->vms)
      peerOf[v.id] = v.p95Steal;
    for (const auto& v : orc->vms)
      oracleOf[v.id] = v.p95Steal;
    for (const auto& v : um->vms) {
      if (peerOf.count(v.id) && oracleOf.count(v.id))
        pairs.push_back({k, v.p95Steal, peerOf[v.id], oracleOf[v.id]});
    }
  }
  if (pairs.empty())
    return json::object();
  using model::PairedVm;
  const size_t nRuns = runs.size();
  const auto within = [&](const model::PairedStat& stat) {
    return model::bootstrapWithinRuns(pairs, nRuns, stat);
  };
  const auto meanOf = [](double PairedVm::*field) {
    return [field](const std::vector<PairedVm>& s) { return model::meanOf(s, field); };
  };
  const model::Interval umbra = within(meanOf(&PairedVm::placer));
  const model::Interval peer = within(meanOf(&PairedVm::peer));
  const model::Interval oracle = within(meanOf(&PairedVm::oracle));
  const model::Interval ratio = within(model::placerOverPeer);
  const model::Interval closed = within(model::gapClosed);
  // The seeds resampled too: one placement changes the world of the next arrivals, so the VMs of
  // one run are not independent draws.
  const model::Interval ratioSeeds =
      model::bootstrapRunsAndVms(pairs, nRuns, model::placerOverPeer);
  const std::vector<double> ratioByRun = model::perRun(pairs, nRuns, model::placerOverPeer);
  std::string byRun;
  for (const double r : ratioByRun) {
    char one[32];
    std::snprintf(one, sizeof(one), "%s%.2f", byRun.empty() ? "" : ", ", r);
    byRun += one;
  }
  const double n = static_cast<double>(runs.size());
  std::printf(
      "### Summary of %s: background %d %%, interference %s, %zu runs, %zu VMs placed by it, the "
      "best peer and the oracle\n\n"
      "| | mean p95 slowdown [95 %% interval] |\n| --- | --- |\n"
      "| %s | %.4f [%.4f, %.4f] |\n| best peer of each run (%s) | %.4f [%.4f, %.4f] |\n"
      "| oracle | %.4f [%.4f, %.4f] |\n\n"
      "%s / best peer: **%.2f** [%.2f, %.2f] (target <= 0.7 with interference on, <= 1.0 off); "
      "with the seeds resampled too [%.2f, %.2f]; run by run %s; "
      "gap from the best peer to the oracle closed: **%.0f %%** [%.0f, %.0f] (target >= 60 %%); "
      "neighbours' p95 slowdown: %s %.4f, best peer %.4f (target: no worse); shadow cost %.3f %% "
      "of CPU-hours (target <= 2 %%)\n\n",
      prober.c_str(), level, on ? "on" : "off", runs.size(), pairs.size(), prober.c_str(),
      umbra.mean, umbra.lo, umbra.hi, bestPeers.dump().c_str(), peer.mean, peer.lo, peer.hi,
      oracle.mean, oracle.lo, oracle.hi, prober.c_str(), ratio.mean, ratio.lo, ratio.hi,
      ratioSeeds.lo, ratioSeeds.hi, byRun.c_str(),
      100 * closed.mean, 100 * closed.lo, 100 * closed.hi, prober.c_str(), harmUmbra / n,
      harmPeer / n, 100 * shadowCpu / n);
  const auto interval = [](const model::Interval& i) {
    return json{{"mean", i.mean}, {"lo", i.lo}, {"hi", i.hi}};
  };
  return {{"placer", prober},
          {"utilisation", level},
          {"interference", on},
          {"runs", runs.size()},
          {"pairedVms", pairs.size()},
          {"bestPeers", bestPeers},
          {"umbra", interval(umbra)},
          {"bestPeer", interval(peer)},
          {"oracle", interval(oracle)},
          {"umbraOverBestPeer", interval(ratio)},
          {"umbraOverBestPeerSeedsResampled", interval(ratioSeeds)},
          {"umbraOverBestPeerByRun", ratioByRun},
          {"gapClosed", interval(closed)},
          {"neighbourP95", {{"umbra", harmUmbra / n}, {"bestPeer", harmPeer / n}}},
          {"shadowCpuShare", shadowCpu / n}};
}

}  // namespace

model::PlacementBenchOptions placementOptions(const BenchPlacementFlags& f, int level, bool on,
                                              int seed) {
  model::PlacementBenchOptions o;
  o.utilisation = level / 100.0;
  o.interference = on;
  o.arrivals = static_cast<size_t>(f.arrivals);
  o.oracleLookaheadSeconds = f.oracleLookaheadHours * 3600.0;
  o.candidates = f.candidates;
  o.shadowCpuFraction = f.shadowCpuFraction;
  o.coRunnerHistory = f.nodeHistory == "co-runners";
  o.scoring = {f.scoringWeights[0], f.scoringWeights[1], f.scoringWeights[2], f.scoringWeights[3]};
  o.seed = static_cast<uint64_t>(seed);
  return o;
}

json placementReportHead(const BenchPlacementFlags& f, const std::string& modelName) {
  return {{"cluster", f.cluster},
          {"traces", f.traces},
          {"traceHalf", f.traceHalf},
          {"seeds", f.seeds},
          {"arrivals", f.arrivals},
          {"model", modelName},
          {"candidates", f.candidates},
          {"runs", json::array()},
          {"summary", json::array()},
          {"nodeHistory", f.nodeHistory},
          {"scoringWeights", f.scoringWeights}};
}

int benchPlacement(const BenchPlacementFlags& f) {
  std::vector<bool> interferenceModes;
  if (f.interference == "both" || f.interference == "on")
    interferenceModes.push_back(true);
  if (f.interference == "both" || f.interference == "off")
    interferenceModes.push_back(false);
  if (f.scoringWeights[0] + f.scoringWeights[1] + f.scoringWeights[2] + f.scoringWeights[3] <= 0)
    return fail("--scoring-weights: at least one weight must be above 0");
  auto inputs = simInputs(f.traces, f.cluster, f.traceHalf);
  if (!inputs.ok())
    return fail(inputs.error().message);
  auto models = std::make_shared<model::ForecastModels>();
  models->demand = model::lastValue();
  models->demandName = "baseline/last-value";
  if (!f.demandModel.empty()) {
    auto lstm = model::LstmNet::load(f.demandModel, 6);
    if (!lstm.ok())
      return fail(lstm.error().message);
    models->demandName = (*lstm)->displayName();
    models->demand = std::shared_ptr<const model::SeriesMethod>(std::move(*lstm));
  }
  if (!f.contentionModel.empty()) {
    auto map = model::ContentionMap::load(f.contentionModel);
    if (!map.ok())
      return fail(map.error().message);
    models->contention = *map;
  }
  if (f.commonWorld)
    return benchCommonWorld(f, *inputs, models, interferenceModes);
  json out = placementReportHead(f, models->name());
  std::printf(
      "# Placement benchmark: %s, traces %s (half %s), seeds %s, %d arrivals, %d shadows per "
      "placement, model %s\n\n",
      f.cluster.c_str(), f.traces.c_str(), f.traceHalf.c_str(), json(f.seeds).dump().c_str(),
      f.arrivals, f.candidates, models->name().c_str());
  for (const int level : f.utilisation) {
    for (const bool on : interferenceModes) {
      std::vector<model::PlacementBenchReport> runs;
      std::map<std::string, std::vector<std::pair<double, bool>>> calibration;
      for (const int seed : f.seeds) {
        const model::PlacementBenchOptions o = placementOptions(f, level, on, seed);
        const auto t0 = std::chrono::steady_clock::now();
        auto report = model::runPlacementBench(
            inputs->cluster, inputs->traces, models, o, [&](const std::string& placer) {
              std::fprintf(
                  stderr, "[placement] %d %% %s seed %d: %s done (%.0f s)\n", level,
                  on ? "interference on" : "interference off", seed, placer.c_str(),
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            });
        if (!report.ok())
          return fail(report.error().message);
        printRun(*report, level, on, seed);
        json run = {{"utilisation", level},
                    {"reached", report->utilisation},
                    {"interference", on},
                    {"seed", seed},
                    {"placers", json::array()}};
        for (const auto& r : report->placers) {
          run["placers"].push_back(placerJson(r));
          auto& c = calibration[r.placer];
          c.insert(c.end(), r.calibration.begin(), r.calibration.end());
        }
        out["runs"].push_back(std::move(run));
        runs.push_back(std::move(*report));
        std::fflush(stdout);
      }
      // The operator's placer first, then its ablation (candidates by requests alone).
      for (const char* prober : {"umbra", "umbra-static"}) {
        json summary = printSummary(runs, level, on, prober);
        const auto decisions = calibration.find(prober);
        if (decisions != calibration.end() && !decisions->second.empty())
          summary["calibration"] = printCalibration(prober, decisions->second);
        out["summary"].push_back(std::move(summary));
      }
      std::fflush(stdout);
    }
  }
  if (!f.json.empty()) {
    if (Status written = writeFileAtomically(f.json, out.dump() + "\n", "the report");
        !written.ok())
      return fail(written.error().message);
  }
  return 0;
}

}  // namespace umbra::cli
