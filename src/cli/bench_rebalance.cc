// umbra bench rebalance: a simulated day of a loaded cluster under no rebalancer, the descheduler's
// LowNodeUtilization, a KubeVirtRelieveAndMigrate-style rebalancer, Umbra and a clairvoyant oracle,
// per seed; Umbra against the best peer of each seed.
#include <algorithm>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/inputs.h"
#include "offline/rebalance_bench.h"

namespace umbra::cli {

using nlohmann::json;

namespace {

json toJson(const offline::RebalancerResult& r) {
  return {{"rebalancer", r.rebalancer},
          {"vmMinutesOverSlo", r.vmMinutesOverSlo},
          {"vmMinutes", r.vmMinutes},
          {"meanP95Steal", r.meanP95Steal},
          {"meanP95Slowdown", r.meanP95Slowdown},
          {"meanSteal", r.meanSteal},
          {"migrations", r.migrations},
          {"succeeded", r.succeeded},
          {"failed", r.failed},
          {"gibMoved", r.gibMoved},
          {"movedWithinInterval", r.movedWithinInterval},
          {"companionsRecreated", r.companionsRecreated},
          {"companionCpuShare", r.companionCpuShare},
          {"companionVcpuShare", r.companionVcpuShare},
          {"computeSeconds", r.computeSeconds},
          {"firstMoves", r.reasons}};
}

const offline::RebalancerResult& named(const offline::RebalanceBenchReport& r,
                                       const std::string& name) {
  for (const auto& x : r.rebalancers) {
    if (x.rebalancer == name)
      return x;
  }
  return r.rebalancers.front();
}

}  // namespace

int benchRebalance(const BenchRebalanceFlags& f) {
  auto inputs = simInputs(f.traces, f.cluster, f.traceHalf);
  if (!inputs.ok())
    return fail(inputs.error().message);
  json out = {{"cluster", f.cluster}, {"runs", json::array()}};
  std::printf(
      "| seed | rebalancer | VM-min over SLO | mean p95 steal | mean p95 slowdown | "
      "migrations (failed) | GiB moved | moved within interval | companion CPU (of used / "
      "of vCPU) | decide s |\n"
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
  double umbraSum = 0, bestSum = 0, umbraMig = 0, bestMig = 0;
  std::vector<double> ratios;
  for (const int seed : f.seeds) {
    offline::RebalanceBenchOptions o;
    o.seed = static_cast<uint64_t>(seed);
    o.utilisation = f.utilisation / 100.0;
    o.warmupSeconds = f.warmupHours * 3600.0;
    o.daySeconds = f.hours * 3600.0;
    auto report = offline::runRebalanceBench(
        inputs->cluster, inputs->traces, o, [&](const std::string& name) {
          std::fprintf(stderr, "[bench] seed %d: %s\n", seed, name.c_str());
        });
    if (!report.ok())
      return fail(report.error().message);
    json run = {{"seed", seed},
                {"utilisation", report->utilisation},
                {"vms", report->vms},
                {"nodes", report->nodes},
                {"rebalancers", json::array()}};
    for (const auto& r : report->rebalancers) {
      run["rebalancers"].push_back(toJson(r));
      std::printf(
          "| %d | %s | %.0f of %.0f | %.4f | %.4f | %d (%d) | %.1f | %d | %.1f %% / %.1f %% "
          "| %.1f |\n",
          seed, r.rebalancer.c_str(), r.vmMinutesOverSlo, r.vmMinutes, r.meanP95Steal,
          r.meanP95Slowdown, r.migrations, r.failed, r.gibMoved, r.movedWithinInterval,
          100 * r.companionCpuShare, 100 * r.companionVcpuShare, r.computeSeconds);
    }
    // The best peer of this seed: the fewest VM-minutes over the SLO among the descheduler-style
    // rebalancers (fewer migrations breaking a tie).
    const offline::RebalancerResult* bestPeer = nullptr;
    for (const auto& r : report->rebalancers) {
      if (r.rebalancer.rfind("low-node", 0) != 0 && r.rebalancer.rfind("relieve", 0) != 0)
        continue;
      if (!bestPeer || r.vmMinutesOverSlo < bestPeer->vmMinutesOverSlo ||
          (r.vmMinutesOverSlo == bestPeer->vmMinutesOverSlo && r.migrations < bestPeer->migrations))
        bestPeer = &r;
    }
    const auto& best = *bestPeer;
    const auto& umbra = named(*report, "umbra");
    run["bestPeer"] = best.rebalancer;
    out["runs"].push_back(run);
    std::printf("best peer: %s\n\n", best.rebalancer.c_str());
    umbraSum += umbra.vmMinutesOverSlo;
    bestSum += best.vmMinutesOverSlo;
    umbraMig += umbra.migrations;
    bestMig += best.migrations;
    ratios.push_back(best.vmMinutesOverSlo > 0 ? umbra.vmMinutesOverSlo / best.vmMinutesOverSlo
                                               : 1.0);
    std::fflush(stdout);
  }
  const double pooled = bestSum > 0 ? umbraSum / bestSum : 1.0;
  std::printf("\nUmbra / best peer (VM-minutes over the SLO): pooled %.2f; per seed", pooled);
  for (const double r : ratios)
    std::printf(" %.2f", r);
  std::printf(" (target <= 0.6); migrations %.0f vs %.0f (target: no more)\n", umbraMig, bestMig);
  out["umbraOverBestPeer"] = {{"pooled", pooled}, {"perSeed", ratios}};
  return finishReport(f.json, out);
}

}  // namespace umbra::cli
