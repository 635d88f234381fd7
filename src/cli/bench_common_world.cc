// umbra bench placement --common-world: every placer decides from the same state of one shared
// world, each choice judged by its clairvoyant future (offline/common_world.h). Markdown on stdout
// (each run, then a summary over the seeds against the best peer of each run), JSON with every
// decision.
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
#include "offline/common_world.h"
#include "offline/paired_intervals.h"

namespace umbra::cli {

using nlohmann::json;

namespace {

const std::vector<std::string> Peers = {"requests", "load-packing", "load-risk", "day-peak",
                                        "forecast-only"};

// One placer's figures over the decisions of one run, or of several.
struct Figures {
  double future = 0, regret = 0, best = 0, harm = 0, neighbours = 0;
  size_t n = 0, withNeighbours = 0;
};

std::map<std::string, Figures> figuresOf(const std::vector<model::CommonWorldReport>& runs) {
  std::map<std::string, Figures> out;
  for (const auto& r : runs) {
    for (const auto& d : r.decisions) {
      const double oracle = d.choices.back().future;  // the oracle is last
      for (const auto& c : d.choices) {
        Figures& f = out[c.placer];
        f.future += c.future;
        f.regret += c.future - oracle;
        f.best += c.future <= oracle + 1e-12 ? 1 : 0;
        f.harm += c.harm;
        ++f.n;
        if (c.neighbours >= 0) {
          f.neighbours += c.neighbours;
          ++f.withNeighbours;
        }
      }
    }
  }
  for (auto& [name, f] : out) {
    const double n = static_cast<double>(std::max<size_t>(1, f.n));
    f.future /= n;
    f.regret /= n;
    f.best /= n;
    f.harm /= n;
    f.neighbours /= static_cast<double>(std::max<size_t>(1, f.withNeighbours));
  }
  return out;
}

// Each decision: Umbra's future, `peer`'s (the best of each run's peers when empty) and the
// oracle's. Also returns which peer was best in each run.
std::vector<model::PairedVm> pairsOf(const std::vector<model::CommonWorldReport>& runs,
                                     const std::string& peer, json* bestPeers = nullptr) {
  std::vector<model::PairedVm> pairs;
  for (size_t k = 0; k < runs.size(); ++k) {
    std::string against = peer;
    if (against.empty()) {
      const auto f = figuresOf({runs[k]});
      double lowest = 1e18;
      for (const auto& name : Peers) {
        if (f.count(name) && f.at(name).future < lowest) {
          lowest = f.at(name).future;
          against = name;
        }
      }
      if (bestPeers)
        bestPeers->push_back(against);  // "" for a run without decisions
    }
    if (against.empty())
      continue;
    for (const auto& d : runs[k].decisions) {
      model::PairedVm p;
      p.run = k;
      for (const auto& c : d.choices) {
        if (c.placer == "umbra")
          p.placer = c.future;
        if (c.placer == against)
          p.peer = c.future;
        if (c.placer == "oracle")
          p.oracle = c.future;
      }
      pairs.push_back(p);
    }
  }
  return pairs;
}

void printTable(const std::map<std::string, Figures>& f, const std::vector<std::string>& order,
                const std::vector<model::CommonWorldReport>& runs) {
  std::printf(
      "| placer | mean p95 slowdown of its choices | regret to the oracle | picked the oracle's "
      "node | harm: neighbours' p95 increase | neighbours' p95 | umbra / it [95 %% interval, "
      "decisions resampled within runs] |\n| --- | --- | --- | --- | --- | --- | --- |\n");
  for (const auto& name : order) {
    if (!f.count(name))
      continue;  // a run without decisions (every arrival unschedulable)
    const Figures& x = f.at(name);
    std::string ratio = "—";
    if (name != "umbra") {
      const auto pairs = pairsOf(runs, name);
      const model::Interval i =
          model::bootstrapWithinRuns(pairs, runs.size(), model::placerOverPeer);
      char s[64];
      std::snprintf(s, sizeof(s), "%.2f [%.2f, %.2f]", i.mean, i.lo, i.hi);
      ratio = s;
    }
    std::printf("| %s | %.4f | %.4f | %.0f %% | %.4f | %.4f | %s |\n", name.c_str(), x.future,
                x.regret, 100 * x.best, x.harm, x.neighbours, ratio.c_str());
  }
  std::printf("\n");
}

json summaryOf(const std::vector<model::CommonWorldReport>& runs, int level, bool on) {
  json bestPeers = json::array();
  const auto pairs = pairsOf(runs, "", &bestPeers);
  const auto f = figuresOf(runs);
  const size_t n = runs.size();
  const model::Interval ratio = model::bootstrapWithinRuns(pairs, n, model::placerOverPeer);
  const model::Interval ratioSeeds = model::bootstrapRunsAndVms(pairs, n, model::placerOverPeer);
  const model::Interval closed = model::bootstrapWithinRuns(pairs, n, model::gapClosed);
  const std::vector<double> byRun = model::perRun(pairs, n, model::placerOverPeer);
  // The best peer's harm: each run's best peer, over its decisions.
  double peerHarm = 0, shadow = 0;
  size_t judged = 0;
  for (size_t k = 0; k < n; ++k) {
    shadow += runs[k].shadowCpuShare;
    const std::string best = bestPeers[k].get<std::string>();
    if (best.empty())
      continue;
    peerHarm += figuresOf({runs[k]}).at(best).harm;
    ++judged;
  }
  peerHarm /= static_cast<double>(std::max<size_t>(1, judged));
  shadow /= static_cast<double>(n);
  std::string perRun;
  for (const double r : byRun) {
    char one[32];
    std::snprintf(one, sizeof(one), "%s%.2f", perRun.empty() ? "" : ", ", r);
    perRun += one;
  }
  std::printf(
      "### Summary, common world: background %d %%, interference %s, %zu runs, %zu decisions\n\n",
      level, on ? "on" : "off", n, pairs.size());
  printTable(f, runs.front().placers, runs);
  std::printf(
      "umbra / best peer of each run (%s): **%.2f** [%.2f, %.2f] (target <= 0.7 with interference "
      "on, <= 1.0 off); with the seeds resampled too [%.2f, %.2f]; run by run %s; gap from the "
      "best peer to the oracle closed: **%.0f %%** [%.0f, %.0f] (target >= 60 %%); harm "
      "(neighbours' p95 increase): umbra %.4f, best peer %.4f (target: no worse); shadow cost "
      "%.3f %% of CPU-hours\n\n",
      bestPeers.dump().c_str(), ratio.mean, ratio.lo, ratio.hi, ratioSeeds.lo, ratioSeeds.hi,
      perRun.c_str(), 100 * closed.mean, 100 * closed.lo, 100 * closed.hi, f.at("umbra").harm,
      peerHarm, 100 * shadow);
  const auto interval = [](const model::Interval& i) {
    return json{{"mean", i.mean}, {"lo", i.lo}, {"hi", i.hi}};
  };
  json placers = json::object();
  for (const auto& [name, x] : f)
    placers[name] = {{"meanP95", x.future},
                     {"regret", x.regret},
                     {"pickedOracleNode", x.best},
                     {"harm", x.harm},
                     {"neighbourP95", x.neighbours}};
  return {{"utilisation", level},
          {"interference", on},
          {"runs", n},
          {"decisions", pairs.size()},
          {"bestPeers", bestPeers},
          {"placers", placers},
          {"umbraOverBestPeer", interval(ratio)},
          {"umbraOverBestPeerSeedsResampled", interval(ratioSeeds)},
          {"umbraOverBestPeerByRun", byRun},
          {"gapClosed", interval(closed)},
          {"harm", {{"umbra", f.at("umbra").harm}, {"bestPeer", peerHarm}}},
          {"shadowCpuShare", shadow}};
}

json decisionsJson(const model::CommonWorldReport& r) {
  json out = json::array();
  for (const auto& d : r.decisions) {
    json choices = json::array();
    for (const auto& c : d.choices)
      choices.push_back({{"placer", c.placer},
                         {"node", c.node},
                         {"future", c.future},
                         {"neighbourP95", c.neighbours},
                         {"harm", c.harm}});
    out.push_back({{"arrival", d.arrival},
                   {"followed", d.followed},
                   {"feasible", d.feasible},
                   {"choices", choices}});
  }
  return out;
}

}  // namespace

int benchCommonWorld(const BenchPlacementFlags& f, const SimInputs& inputs,
                     const std::shared_ptr<const model::ForecastModels>& models,
                     const std::vector<bool>& interferenceModes) {
  json out = placementReportHead(f, models->name());
  out["mode"] = "common-world";
  std::printf(
      "# Placement benchmark, common world: %s, traces %s (half %s), seeds %s, %d arrivals, %d "
      "shadows per placement, model %s\n\n"
      "Every placer chooses from the same state; each choice is judged by the arrival's p95 "
      "slowdown there over the next %d h, simulated clairvoyantly; the world follows the placers "
      "in turn.\n\n",
      f.cluster.c_str(), f.traces.c_str(), f.traceHalf.c_str(), json(f.seeds).dump().c_str(),
      f.arrivals, f.candidates, models->name().c_str(), f.oracleLookaheadHours);
  for (const int level : f.utilisation) {
    for (const bool on : interferenceModes) {
      std::vector<model::CommonWorldReport> runs;
      for (const int seed : f.seeds) {
        const model::PlacementBenchOptions o = placementOptions(f, level, on, seed);
        const auto t0 = std::chrono::steady_clock::now();
        auto report = model::runCommonWorld(inputs.cluster, inputs.traces, models, o);
        if (!report.ok())
          return fail(report.error().message);
        std::fprintf(stderr, "[common world] %d %% interference %s seed %d done (%.0f s)\n", level,
                     on ? "on" : "off", seed,
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        std::printf(
            "## Background %d %% (reached %.1f %% mean node CPU), hidden interference %s, seed "
            "%d: %zu decisions, %zu unschedulable\n\n",
            level, 100 * report->utilisation, on ? "on" : "off", seed, report->decisions.size(),
            report->unschedulable.size());
        printTable(figuresOf({*report}), report->placers, {*report});
        out["runs"].push_back({{"utilisation", level},
                               {"reached", report->utilisation},
                               {"interference", on},
                               {"seed", seed},
                               {"unschedulable", report->unschedulable},
                               {"shadowCpuShare", report->shadowCpuShare},
                               {"extensions", report->extensions},
                               {"decisions", decisionsJson(*report)}});
        runs.push_back(std::move(*report));
        std::fflush(stdout);
      }
      bool any = false;
      for (const auto& r : runs)
        any |= !r.decisions.empty();
      if (any)
        out["summary"].push_back(summaryOf(runs, level, on));
      std::fflush(stdout);
    }
  }
  return finishReport(f.json, out);
}

}  // namespace umbra::cli
