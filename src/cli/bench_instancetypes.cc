// umbra bench instancetypes: KubeVirt instancetypes for trace workloads serving requests, picked
// by the requested size, a VPA-style rightsizer, Umbra's trial on mirrored requests and an
// oracle; per seed, with the targets.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/inputs.h"
#include "model/series_forecast.h"
#include "offline/instancetype_bench.h"
#include "sim/files.h"

namespace umbra::cli {

using nlohmann::json;

int benchInstancetypes(const BenchInstancetypesFlags& f) {
  auto traces = sim::loadTraces(f.traces);
  if (!traces.ok())
    return fail(traces.error().message);
  // VMs (Bitbrains) are the workloads; machines (Alibaba) are the hosts whose load makes steal.
  sim::TraceSet vms;
  std::vector<const sim::Trace*> hosts;
  for (const auto& [id, t] : traces->series) {
    if (id.starts_with("alibaba"))
      hosts.push_back(&t);
    else
      vms.series.emplace(id, t);
  }
  if (hosts.empty() || vms.series.empty())
    return fail(f.traces + ": needs VM traces (bitbrains_*) and machine traces (alibaba*)");
  if (f.traceHalf != "all")
    keepHalf(vms, f.traceHalf);
  offline::InstancetypePrices prices;
  prices.dedicatedPremium = f.dedicatedPremium;
  json out = {
      {"prices",
       {{"vcpu", prices.vcpu}, {"gib", prices.gib}, {"dedicatedPremium", prices.dedicatedPremium}}},
      {"runs", json::array()}};
  std::printf(
      "| seed | picker | cost / h | SLO minutes | cost within 10 %% of the oracle's | decision h "
      "|\n| --- | --- | --- | --- | --- | --- |\n");
  for (const int seed : f.seeds) {
    offline::InstancetypeBenchOptions o;
    o.seed = static_cast<uint64_t>(seed);
    const auto report = offline::runInstancetypeBench(vms, hosts, o, prices);
    if (report.workloads.empty())
      return fail(f.traces + ": no VM trace long enough, with its size in the metadata");
    json run = {{"seed", seed},
                {"workloads", report.workloads.size()},
                {"skipped", report.skipped},
                {"pickers", json::array()},
                {"perWorkload", json::array()}};
    struct Sum {
      std::string picker;
      double cost = 0, slo = 0, hours = 0;
      int nearOracle = 0;
    };
    std::vector<Sum> sums;
    for (const auto& p : report.workloads.front().pickers)
      sums.push_back({p.picker});
    std::vector<double> trialShares, controllerShares;
    for (const auto& w : report.workloads) {
      json wj = {{"id", w.id},
                 {"cpuSecondsPerRequest", w.cpuSecondsPerRequest},
                 {"serviceCv2", w.serviceCv2},
                 {"trial", w.trialLog}};
      const double oracleCost = w.pickers.back().costPerHour;
      for (size_t p = 0; p < w.pickers.size(); ++p) {
        const auto& r = w.pickers[p];
        sums[p].cost += r.costPerHour;
        sums[p].slo += r.sloMinutes;
        sums[p].hours += r.decisionHours;
        sums[p].nearOracle += std::abs(r.costPerHour - oracleCost) <= 0.1 * oracleCost + 1e-12;
        wj[r.picker] = {
            {"type", r.type}, {"costPerHour", r.costPerHour}, {"sloMinutes", r.sloMinutes}};
        if (r.picker == "umbra")
          trialShares.push_back(r.trialCostShare);
        if (r.picker == "umbra-controller")
          controllerShares.push_back(r.trialCostShare);
      }
      run["perWorkload"].push_back(wj);
    }
    const double n = static_cast<double>(report.workloads.size());
    const Sum* umbra = nullptr;
    const Sum* controller = nullptr;
    for (const auto& x : sums) {
      std::printf("| %d | %s | %.3f | %.0f | %.0f %% | %.0f |\n", seed, x.picker.c_str(), x.cost,
                  x.slo, 100.0 * x.nearOracle / n, x.hours / n);
      run["pickers"].push_back({{"picker", x.picker},
                                {"costPerHour", x.cost},
                                {"sloMinutes", x.slo},
                                {"nearOracle", x.nearOracle / n},
                                {"decisionHours", x.hours / n}});
      if (x.picker == "umbra")
        umbra = &x;
      if (x.picker == "umbra-controller")
        controller = &x;
    }
    // The best VPA-style setting of this run for a picker: the cheapest with no more SLO minutes
    // than it, else the one with the fewest (each picker gets its own best peer).
    const auto bestFor = [&](const Sum* picker) {
      const Sum* best = nullptr;
      for (const auto& x : sums) {
        if (x.picker.rfind("vpa", 0) != 0)
          continue;
        const bool fits = x.slo <= picker->slo, bestFits = best && best->slo <= picker->slo;
        if (!best || (fits && (!bestFits || x.cost < best->cost)) ||
            (!fits && !bestFits && x.slo < best->slo))
          best = &x;
      }
      return best;
    };
    const Sum* best = bestFor(umbra);
    const double ratio = best->cost > 0 ? umbra->cost / best->cost : 0;
    const double share = model::quantileOf(trialShares, 0.5);
    const double worst = *std::max_element(trialShares.begin(), trialShares.end());
    std::printf(
        "seed %d (%zu workloads, %d skipped): Umbra / best VPA-style (%s) cost %.2f (target <= "
        "0.8) with %.0f vs %.0f SLO minutes (target: no more); Umbra's cost within 10 %% of the "
        "oracle's in %.0f %% of workloads (target >= 90 %%); the trial shadow's cost / the "
        "workload's over the trial: median %.1f %%, max %.1f %% (target <= 5 %%)\n\n",
        seed, report.workloads.size(), report.skipped, best->picker.c_str(), ratio, umbra->slo,
        best->slo, 100.0 * umbra->nearOracle / n, 100 * share, 100 * worst);
    // The InstancetypeTrial controller's own algorithm (docs/instancetype-trials.md), against its
    // own best VPA-style setting.
    const Sum* controllerPeer = bestFor(controller);
    const double controllerRatio =
        controllerPeer->cost > 0 ? controller->cost / controllerPeer->cost : 0;
    const double controllerShare = model::quantileOf(controllerShares, 0.5);
    const double controllerWorst =
        *std::max_element(controllerShares.begin(), controllerShares.end());
    std::printf(
        "seed %d: the InstancetypeTrial controller's picker / best VPA-style (%s) cost %.2f with "
        "%.0f vs %.0f SLO minutes; within 10 %% of the oracle's cost in %.0f %%; its shadows' "
        "cost / the workload's over the trial: median %.1f %%, max %.1f %%\n\n",
        seed, controllerPeer->picker.c_str(), controllerRatio, controller->slo, controllerPeer->slo,
        100.0 * controller->nearOracle / n, 100 * controllerShare, 100 * controllerWorst);
    run["controller"] = {
        {"bestVpa", controllerPeer->picker},        {"overBestVpaCost", controllerRatio},
        {"bestVpaSloMinutes", controllerPeer->slo}, {"sloMinutes", controller->slo},
        {"nearOracle", controller->nearOracle / n}, {"trialCostShareMedian", controllerShare},
        {"trialCostShareMax", controllerWorst}};
    run["summary"] = {{"bestVpa", best->picker},
                      {"umbraOverBestVpaCost", ratio},
                      {"umbraSloMinutes", umbra->slo},
                      {"bestVpaSloMinutes", best->slo},
                      {"umbraNearOracle", umbra->nearOracle / n},
                      {"trialCostShareMedian", share},
                      {"trialCostShareMax", worst}};
    out["runs"].push_back(run);
    std::fflush(stdout);
  }
  return finishReport(f.json, out);
}

}  // namespace umbra::cli
