// umbra bench forecast, umbra bench placement.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/inputs.h"
#include "model/contention_map.h"
#include "model/evaluation.h"
#include "model/lstm_net.h"
#include "offline/placement_bench.h"
#include "sim/files.h"

namespace umbra::cli {

using nlohmann::json;

namespace {

json reportJson(const model::MethodReport& r) {
  json perSeries = json::array();
  for (const double m : r.perSeriesMase)
    perSeries.push_back(std::isnan(m) ? json(nullptr) : json(m));
  return {{"method", r.method},
          {"mase", r.mase},
          {"smape", r.smape},
          {"mae", r.mae},
          {"p90Coverage", r.coverage},
          {"trainSeconds", r.trainSeconds},
          {"inferenceMicrosPerWindow", r.inferenceMicros},
          {"seriesScored", r.series},
          {"points", r.points},
          {"perSeriesMase", perSeries}};
}

}  // namespace

int benchForecast(const BenchForecastFlags& f) {
  const std::string& target = f.target;
  auto set = sim::loadTraces(f.traces);
  if (!set.ok())
    return fail(set.error().message);
  model::EvalOptions eo;
  eo.horizon = f.horizonSteps;
  eo.originStride = f.originStride;
  json out = {
      {"traces", f.traces},  {"horizonSteps", eo.horizon},        {"stepSeconds", 300},
      {"period", eo.period}, {"trainFraction", eo.trainFraction}, {"originStride", eo.originStride},
      {"clamp", {0, 1}},     {"targets", json::object()}};
  std::ofstream exported, forecasts;
  if (!f.exportSeries.empty()) {
    exported.open(f.exportSeries);
    exported << "target,series_id,index,value,observed\n";
  }
  if (!f.forecasts.empty()) {
    forecasts.open(f.forecasts);
    forecasts << "target,series_id,method,origin,step,actual,p50,p90\n";
  }
  for (const std::string t : {"cpu", "memory"}) {
    if (target != "both" && target != t)
      continue;
    const auto series = seriesOf(*set, t, f.seriesLimit);
    if (series.empty())
      continue;
    std::fprintf(stderr, "[bench] %s: %zu series, horizon %d steps, origins every %d steps\n",
                 t.c_str(), series.size(), eo.horizon, eo.originStride);
    auto last = model::lastValue();
    auto snaive = model::seasonalNaive(eo.period);
    auto hw = model::holtWinters(eo.period);
    auto ar = model::linearAutoregressive(12, eo.period);
    model::LstmOptions lo;
    lo.maxEpochs = f.epochs;
    model::LstmMethod lstm(lo);
    lstm.onEpoch(printEpoch);
    const std::vector<model::SeriesMethod*> methods = {last.get(), snaive.get(), hw.get(), ar.get(),
                                                       &lstm};
    const auto reports = model::evaluate(series, methods, eo);
    json section = {{"series", series.size()}, {"ids", json::array()}, {"methods", json::array()}};
    for (const auto& s : series)
      section["ids"].push_back(s.id);
    std::printf("%s utilisation, %zu series, horizon %d x 300 s, origins every %d steps\n",
                t.c_str(), series.size(), eo.horizon, eo.originStride);
    std::printf("  %-16s %8s %8s %8s %9s %10s %12s\n", "method", "MASE", "sMAPE", "MAE", "p90 cov.",
                "train s", "infer us/win");
    for (const auto& r : reports) {
      std::printf("  %-16s %8.4f %8.4f %8.4f %9.3f %10.1f %12.1f\n", r.method.c_str(), r.mase,
                  r.smape, r.mae, r.coverage, r.trainSeconds, r.inferenceMicros);
      section["methods"].push_back(reportJson(r));
    }
    out["targets"][t] = section;
    if (exported.is_open()) {
      for (const auto& s : series)
        for (size_t i = 0; i < s.values.size(); ++i)
          exported << t << ',' << s.id << ',' << i << ',' << s.values[i] << ','
                   << (s.observed.empty() ? 1 : static_cast<int>(s.observed[i])) << '\n';
    }
    if (forecasts.is_open()) {
      // Two days of the evaluation part of the first three series, every method, at the last step.
      for (size_t i = 0; i < std::min<size_t>(3, series.size()); ++i) {
        const auto& s = series[i];
        const auto split =
            static_cast<size_t>(eo.trainFraction * static_cast<double>(s.values.size()));
        for (size_t origin = split;
             origin + static_cast<size_t>(eo.horizon) < std::min(s.values.size(), split + 576);
             ++origin) {
          for (const auto* m : methods) {
            const auto fc =
                m->predict(i, std::span<const double>(s.values.data(), origin + 1), eo.horizon);
            const size_t k = static_cast<size_t>(eo.horizon) - 1;
            forecasts << t << ',' << s.id << ',' << m->name() << ',' << origin << ',' << eo.horizon
                      << ',' << s.values[origin + 1 + k] << ',' << std::clamp(fc.p50[k], 0.0, 1.0)
                      << ',' << std::clamp(fc.p90[k], 0.0, 1.0) << '\n';
          }
        }
      }
    }
  }
  if (!f.json.empty()) {
    const std::string path = f.json;
    std::ofstream(path + ".tmp") << out.dump(1) << "\n";
    std::rename((path + ".tmp").c_str(), path.c_str());
    std::fprintf(stderr, "[bench] wrote %s\n", path.c_str());
  }
  return 0;
}

// Placement quality: every placer on the same simulated cluster, arrivals and seed, at each
// utilisation, with the hidden interference on and off. Markdown on stdout, JSON with every VM.
int benchPlacement(const BenchPlacementFlags& f) {
  const std::vector<int>& levels = f.utilisation;
  std::vector<bool> interferenceModes;
  if (f.interference == "both" || f.interference == "on")
    interferenceModes.push_back(true);
  if (f.interference == "both" || f.interference == "off")
    interferenceModes.push_back(false);
  auto inputs = simInputs(f.traces, f.cluster);
  if (!inputs.ok())
    return fail(inputs.error().message);
  const sim::TraceSet* traces = &inputs->traces;
  const sim::ClusterSpec* cluster = &inputs->cluster;
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
  json out = {{"cluster", f.cluster},
              {"traces", f.traces},
              {"seed", f.seed},
              {"model", models->name()},
              {"runs", json::array()}};
  std::printf("# Placement benchmark: %s, seed %d, %d arrivals, model %s\n\n", f.cluster.c_str(),
              f.seed, f.arrivals, models->name().c_str());
  for (const int level : levels) {
    for (const bool on : interferenceModes) {
      model::PlacementBenchOptions o;
      o.utilisation = level / 100.0;
      o.interference = on;
      o.arrivals = static_cast<size_t>(f.arrivals);
      o.oracleLookaheadSeconds = f.oracleLookaheadHours * 3600.0;
      o.seed = static_cast<uint64_t>(f.seed);
      const auto t0 = std::chrono::steady_clock::now();
      auto report =
          model::runPlacementBench(*cluster, *traces, models, o, [&](const std::string& placer) {
            std::fprintf(
                stderr, "[placement] %d %% %s: %s done (%.0f s)\n", level,
                on ? "interference on" : "interference off", placer.c_str(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
          });
      if (!report.ok())
        return fail(report.error().message);
      std::printf("## Background %d %% (reached %.1f %% mean node CPU), hidden interference %s\n\n",
                  level, 100 * report->utilisation, on ? "on" : "off");
      std::printf(
          "| placer | mean p95 steal | mean steal | p95 of all 5-min steal | minutes over SLO "
          "(steal > 10 %%) | p95 iowait | node CPU imbalance (sd) | shadow CPU-h %% | shadow "
          "memory-h %% | decision latency (sim s) | decision compute (ms) |\n"
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
      json run = {{"utilisation", level},
                  {"reached", report->utilisation},
                  {"interference", on},
                  {"placers", json::array()}};
      const model::PlacerResult* la = nullptr;
      const model::PlacerResult* um = nullptr;
      const model::PlacerResult* orc = nullptr;
      for (const auto& r : report->placers) {
        std::printf(
            "| %s | %.4f | %.4f | %.4f | %.0f | %.4f | %.4f | %.3f | %.3f | %.0f | %.1f |\n",
            r.placer.c_str(), r.meanP95Steal, r.meanSteal, r.p95AllSteal, r.minutesOverSlo,
            r.p95IoWait, r.imbalance, 100 * r.shadowCpuShare, 100 * r.shadowMemoryShare,
            r.decisionSeconds, 1000 * r.computeSeconds);
        json vms = json::array();
        for (const auto& v : r.vms)
          vms.push_back({{"id", v.id},
                         {"node", v.node},
                         {"vcpus", v.vcpus},
                         {"meanSteal", v.meanSteal},
                         {"p95Steal", v.p95Steal},
                         {"minutesOverSlo", v.minutesOverSlo},
                         {"p95IoWait", v.p95IoWait}});
        run["placers"].push_back({{"placer", r.placer},
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
                                  {"vms", vms}});
        if (r.placer == "load-aware")
          la = &r;
        if (r.placer == "umbra")
          um = &r;
        if (r.placer == "oracle")
          orc = &r;
      }
      // Calibration: does the stated confidence match how often the choice was right (within one
      // point of steal of the best probed candidate over the VM's next 24 h)?
      for (const auto& r : report->placers) {
        if (r.calibration.empty())
          continue;
        struct Bin {
          double lo, hi;
          int n = 0, right = 0;
          double stated = 0;
        };
        std::vector<Bin> bins = {{0, 0.5}, {0.5, 0.7}, {0.7, 0.9}, {0.9, 1.0001}};
        double brier = 0, ece = 0;
        for (const auto& [conf, right] : r.calibration) {
          brier += (conf - (right ? 1 : 0)) * (conf - (right ? 1 : 0));
          for (auto& b : bins) {
            if (conf >= b.lo && conf < b.hi) {
              ++b.n;
              b.right += right ? 1 : 0;
              b.stated += conf;
            }
          }
        }
        const double total = static_cast<double>(r.calibration.size());
        std::printf(
            "\nCalibration of %s (stated confidence vs choice right):\n\n"
            "| stated confidence | decisions | mean stated | right |\n| --- | --- | --- | --- |\n",
            r.placer.c_str());
        json bj = json::array();
        for (const auto& b : bins) {
          const double stated = b.n ? b.stated / b.n : 0, right = b.n ? double(b.right) / b.n : 0;
          ece += b.n / total * std::abs(stated - right);
          std::printf("| [%.1f, %.1f) | %d | %.2f | %.2f |\n", b.lo, std::min(1.0, b.hi), b.n,
                      stated, right);
          bj.push_back({{"lo", b.lo}, {"n", b.n}, {"meanStated", stated}, {"right", right}});
        }
        std::printf("\nBrier score %.3f, expected calibration error %.3f over %zu decisions\n",
                    brier / total, ece, r.calibration.size());
        for (auto& p : run["placers"]) {
          if (p["placer"] == r.placer)
            p["calibration"] = {{"bins", bj}, {"brier", brier / total}, {"ece", ece}};
        }
      }
      if (la && um && orc) {
        const double ratio = la->meanP95Steal > 0 ? um->meanP95Steal / la->meanP95Steal : 0;
        const double gap = la->meanP95Steal - orc->meanP95Steal;
        const double closed = gap > 1e-9 ? (la->meanP95Steal - um->meanP95Steal) / gap : 0;
        std::printf(
            "\nUmbra vs load-aware, mean p95 steal: %.3f x (target <= 0.7 with "
            "interference on, <= 1 off); gap to the oracle closed: %.0f %% (target >= 60 "
            "%%); shadow cost %.2f %% of CPU-hours (target <= 2 %%); %.2f observation "
            "extensions per placement\n\n",
            ratio, 100 * closed, 100 * um->shadowCpuShare, um->extensions);
        run["umbraVsLoadAware"] = ratio;
        run["gapClosed"] = closed;
      }
      out["runs"].push_back(std::move(run));
      std::fflush(stdout);
    }
  }
  if (!f.json.empty()) {
    std::ofstream file(f.json);
    file << out.dump(1) << "\n";
    if (!file)
      return fail(f.json + ": cannot write");
  }
  return 0;
}

}  // namespace umbra::cli
