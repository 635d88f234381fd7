// umbra bench forecast (umbra bench placement: bench_placement.cc).
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
    SkippedSeries skipped;
    const auto series = seriesOf(*set, t, f.seriesLimit, &skipped);
    std::fprintf(stderr,
                 "[bench] %s: %zu series, horizon %d steps, origins every %d steps; skipped %s\n",
                 t.c_str(), series.size(), eo.horizon, eo.originStride,
                 skipped.describe().c_str());
    if (series.empty())
      continue;
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

}  // namespace umbra::cli
