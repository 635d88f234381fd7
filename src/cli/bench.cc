// umbra bench forecast (umbra bench placement: bench_placement.cc).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/inputs.h"
#include "model/contention_map.h"
#include "model/evaluation.h"
#include "model/guarded_ensemble.h"
#include "model/lstm_net.h"
#include "model/model_forecaster.h"
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

// Each method's per-series MASE relative to the last value's on the same series: the worst
// ratio and how many series are above 1.5 (the guard's yardstick).
void addWorstSeries(std::vector<model::MethodReport>& reports, json& section) {
  const auto& lv = reports.front().perSeriesMase;  // last value comes first
  for (size_t r = 0; r < reports.size(); ++r) {
    double worst = 0;
    std::string worstId;
    int above = 0;
    for (size_t i = 0; i < lv.size() && i < reports[r].perSeriesMase.size(); ++i) {
      const double ratio = reports[r].perSeriesMase[i] / lv[i];
      if (!std::isfinite(ratio))
        continue;
      above += ratio > 1.5 ? 1 : 0;
      if (ratio > worst) {
        worst = ratio;
        worstId = section["ids"][i].get<std::string>();
      }
    }
    section["methods"][r]["worstToLastValue"] = worst;
    section["methods"][r]["worstSeries"] = worstId;
    section["methods"][r]["seriesAbove1_5xLastValue"] = above;
  }
}

}  // namespace

int benchForecast(const BenchForecastFlags& f) {
  const std::string& target = f.target;
  auto set = sim::loadTraces(f.traces);
  if (!set.ok())
    return fail(set.error().message);
  // The placement horizon (30 minutes) always; the requested one too when it is longer (2 hours
  // for scaling and pre-provisioning lead times).
  std::vector<int> horizons = {std::min(6, f.horizonSteps)};
  if (f.horizonSteps > horizons.front())
    horizons.push_back(f.horizonSteps);
  model::EvalOptions base;
  base.originStride = f.originStride;
  json out = {{"traces", f.traces},
              {"stepSeconds", 300},
              {"period", base.period},
              {"trainFraction", base.trainFraction},
              {"originStride", base.originStride},
              {"clamp", {0, 1}},
              {"horizons", json::array()}};
  std::ofstream exported, forecasts;
  if (!f.exportSeries.empty()) {
    exported.open(f.exportSeries);
    exported << "target,series_id,index,value,observed\n";
  }
  if (!f.forecasts.empty()) {
    forecasts.open(f.forecasts);
    forecasts << "target,series_id,method,origin,step,actual,p50,p90\n";
  }
  std::map<std::string, std::vector<model::EvalSeries>> seriesByTarget;
  for (const std::string t : {"cpu", "memory"}) {
    if (target != "both" && target != t)
      continue;
    SkippedSeries skipped;
    auto series = seriesOf(*set, t, f.seriesLimit, &skipped);
    std::fprintf(stderr, "[bench] %s: %zu series; skipped %s\n", t.c_str(), series.size(),
                 skipped.describe().c_str());
    if (exported.is_open()) {
      for (const auto& s : series)
        for (size_t i = 0; i < s.values.size(); ++i)
          exported << t << ',' << s.id << ',' << i << ',' << s.values[i] << ','
                   << (s.observed.empty() ? 1 : static_cast<int>(s.observed[i])) << '\n';
    }
    if (!series.empty())
      seriesByTarget[t] = std::move(series);
  }
  // Complete before the long part: peers may read it while the methods train.
  if (exported.is_open())
    exported.close();
  for (const int horizon : horizons) {
    model::EvalOptions eo = base;
    eo.horizon = horizon;
    json byHorizon = {{"horizonSteps", horizon}, {"targets", json::object()}};
    for (const auto& [t, series] : seriesByTarget) {
      auto last = model::lastValue();
      auto snaive = model::seasonalNaive(eo.period);
      auto hw = model::holtWinters(eo.period);
      auto ar = model::linearAutoregressive(12, eo.period);
      auto median = model::recentMedian(36);
      model::LstmOptions lo;
      lo.maxEpochs = f.epochs;
      model::LstmMethod lstm(lo);
      lstm.onEpoch(printEpoch);
      // A network trained by an earlier run on the same traces, when --networks has one.
      const std::string saved =
          f.networks.empty() ? ""
                             : f.networks + "/lstm-" + t + "-" + std::to_string(horizon) + ".json";
      std::shared_ptr<model::SeriesMethod> reused;
      double reusedSeconds = 0;
      if (!saved.empty() && std::filesystem::exists(saved)) {
        auto net = model::LstmNet::load(saved, horizon);
        if (!net.ok())
          return fail(net.error().message);
        const auto meta = json::parse((*net)->metadata(), nullptr, false);
        reusedSeconds = meta.is_object() ? meta.value("trainSeconds", 0.0) : 0.0;
        const size_t trainedOn = meta.is_object() ? meta.value("trainSeries", size_t{0}) : 0;
        if (trainedOn != series.size())
          return fail(saved + ": trained on " + std::to_string(trainedOn) +
                      " series, this run has " + std::to_string(series.size()) +
                      " (other traces?); remove it or use another --networks folder");
        reused = std::shared_ptr<model::SeriesMethod>(std::move(*net));
        std::fprintf(stderr, "[bench] %s, %d steps: the LSTM from %s (trained in %.0f s)\n",
                     t.c_str(), horizon, saved.c_str(), reusedSeconds);
      }
      model::FrozenMethod frozen(reused);
      model::SeriesMethod* network = reused ? static_cast<model::SeriesMethod*>(&frozen) : &lstm;
      // The engine: the guard over the members fitted (and scored) just before it.
      const std::vector<model::SeriesMethod*> members = {network, ar.get(), median.get(),
                                                         last.get(), hw.get()};
      model::GuardedEnsemble engine(members, false);
      // A candidate beside it (not the engine): each series' weights shrunk toward the all-series
      // ones by as much as a nested validation inside the training parts asks.
      model::GuardOptions shrinking;
      shrinking.shrinkToGlobal = true;
      model::GuardedEnsemble shrunk(members, false, shrinking);
      const std::vector<model::SeriesMethod*> methods = {
          last.get(), snaive.get(), median.get(), hw.get(), ar.get(), network, &engine, &shrunk};
      std::fprintf(stderr, "[bench] %s: %zu series, horizon %d steps, origins every %d steps\n",
                   t.c_str(), series.size(), eo.horizon, eo.originStride);
      auto reports = model::evaluate(series, methods, eo);
      if (reused)
        reports[static_cast<size_t>(std::find(methods.begin(), methods.end(), network) -
                                    methods.begin())]
            .trainSeconds = reusedSeconds;
      else if (!saved.empty())
        if (auto st = lstm.save(saved); !st.ok())
          return fail(st.error().message);
      // The engines' training time includes their members'.
      double membersSeconds = 0;
      for (size_t m = 0; m < methods.size(); ++m)
        if (std::find(members.begin(), members.end(), methods[m]) != members.end())
          membersSeconds += reports[m].trainSeconds;
      for (size_t m = 0; m < methods.size(); ++m)
        if (methods[m] == &engine || methods[m] == &shrunk)
          reports[m].trainSeconds += membersSeconds;
      json section = {
          {"series", series.size()}, {"ids", json::array()}, {"methods", json::array()}};
      for (const auto& s : series)
        section["ids"].push_back(s.id);
      for (const auto& r : reports)
        section["methods"].push_back(reportJson(r));
      addWorstSeries(reports, section);
      const auto& w = engine.globalWeights();
      section["guard"] = {
          {"members", {"lstm", "linear-ar", "recent-median", "last-value", "holt-winters"}},
          {"globalWeights", w},
          {"shrunkCandidateShrinkage", shrunk.shrinkage()},
          {"lstm", reused ? "reused from " + saved : "trained in this run"}};
      std::printf("%s utilisation, %zu series, horizon %d x 300 s, origins every %d steps\n",
                  t.c_str(), series.size(), eo.horizon, eo.originStride);
      std::printf("  %-16s %8s %8s %8s %9s %10s %12s %10s\n", "method", "MASE", "sMAPE", "MAE",
                  "p90 cov.", "train s", "infer us/win", "worst/LV");
      for (size_t r = 0; r < reports.size(); ++r) {
        const auto& x = reports[r];
        std::printf("  %-16s %8.4f %8.4f %8.4f %9.3f %10.1f %12.1f %10.2f\n", x.method.c_str(),
                    x.mase, x.smape, x.mae, x.coverage, x.trainSeconds, x.inferenceMicros,
                    section["methods"][r]["worstToLastValue"].get<double>());
      }
      std::printf(
          "  guard weights for unseen series: lstm %.1f, linear-ar %.1f, recent-median %.1f, "
          "last-value %.1f, holt-winters %.1f\n",
          w[0], w[1], w[2], w[3], w[4]);
      std::printf("  guarded-ensemble-shrunk: each series' weights %.2f of the way to those\n",
                  shrunk.shrinkage());
      byHorizon["targets"][t] = section;
      if (forecasts.is_open()) {
        // Two days of the evaluation part of the first three series, every method, at the last
        // step of the horizon.
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
              forecasts << t << ',' << s.id << ',' << m->name() << ',' << origin << ','
                        << eo.horizon << ',' << s.values[origin + 1 + k] << ','
                        << std::clamp(fc.p50[k], 0.0, 1.0) << ',' << std::clamp(fc.p90[k], 0.0, 1.0)
                        << '\n';
            }
          }
        }
      }
    }
    out["horizons"].push_back(byHorizon);
  }
  if (!f.json.empty()) {
    const std::string path = f.json;
    std::ofstream(path + ".tmp") << out.dump(1) << "\n";
    std::rename((path + ".tmp").c_str(), path.c_str());
    std::fprintf(stderr, "[bench] wrote %s\n", path.c_str());
  }
  return 0;
}

}  // namespace umbra::cli
