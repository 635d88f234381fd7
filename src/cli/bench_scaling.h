// What umbra bench scaling's two files share (bench_scaling.cc runs it, bench_scaling_report.cc
// compares the scalers and the detector).
#pragma once

#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/evaluation.h"
#include "model/series_forecast.h"
#include "offline/scaling_bench.h"

namespace umbra::cli {

inline constexpr double StepSeconds = 300;

inline std::string fmt(double v) {
  return offline::compactNumber(v);
}

// Per series, per decision step from its split - 1 on.
using Forecasts = std::vector<std::vector<scaling::DemandForecast>>;

// Per series, per decision step from split - 1 on: the engine's p50/p90 (utilisation fractions)
// for the next `lead` steps. `threads` threads, a share of the series each.
Forecasts forecastAll(const model::SeriesMethod& engine, const std::vector<model::EvalSeries>& s,
                      const std::vector<size_t>& splits, int lead, int threads);

// Adds "atEqualSlack" and "issueTargets" to a kind's section (which holds its "settings") and
// prints them: every scaler's under-provisioned minutes on its own frontier at the slack of each
// scaler's default and at 20, 25 and 30 %; against the targets. `curves`: per scaler,
// (slack %, under-provisioned min/day) per setting.
void compareAtEqualSlack(
    nlohmann::json& section,
    const std::map<std::string, std::vector<std::pair<double, double>>>& curves);

// The surge detector alone, replayed on the forecasts of the series with surges, at several
// settings: the share of labelled surges it finds, its false alarms, its delay. Fractions of the
// series' capacity (the vCPU view; a pool is a scaled copy of the same series).
nlohmann::json detectionSweep(const std::vector<model::EvalSeries>& s, const Forecasts& fc,
                              const std::vector<size_t>& splits,
                              const std::vector<std::vector<offline::Surge>>& labels,
                              const scaling::AnomalyOptions& base);

}  // namespace umbra::cli
