#pragma once

#include <map>
#include <string>
#include <vector>

#include "model/series_forecast.h"
#include "telemetry/metrics_source.h"

namespace umbra::model {

// A whole series on a regular grid; `observed` marks real samples (gaps carry the last value).
struct EvalSeries {
  std::string id;
  std::vector<double> values;
  std::vector<uint8_t> observed;
};

struct EvalOptions {
  int horizon = 6;             // steps (6 x 300 s = 30 minutes)
  int period = 288;            // the daily season at 300 s
  double trainFraction = 0.7;  // time-ordered split: the first 70 % trains, the rest evaluates
  int originStride = 6;        // a rolling origin every N steps of the evaluation part
};

struct MethodReport {
  std::string method;
  double mase = 0;  // mean over series of per-series MASE (every series counts once)
  double smape = 0;
  double mae = 0;
  double coverage = 0;  // share of actuals <= p90, over all evaluated points
  double trainSeconds = 0;
  double inferenceMicros = 0;  // per forecast window, one thread
  size_t series = 0;           // series with a defined MASE (non-constant training part)
  size_t points = 0;
  std::vector<double> perSeriesMase;  // in input order; NaN where undefined
};

// One series per frame (e.g. per node from PrometheusSource::history) of the column `column`,
// gaps carrying the last value and marked unobserved; frames without the column are skipped.
std::vector<EvalSeries> seriesFromFrames(
    const std::map<std::string, telemetry::FeatureFrame>& frames, const std::string& column);

// The training parts, as the methods' fit() sees them.
std::vector<TrainSeries> trainingParts(const std::vector<EvalSeries>& all, const EvalOptions& o);

// Fits each method on the training parts and forecasts from rolling origins over the rest: every
// `originStride` steps from the split to the end, using all values up to the origin; only observed
// targets are scored; forecasts are clamped to [0, 1] (utilisation fractions) for every method.
std::vector<MethodReport> evaluate(const std::vector<EvalSeries>& all,
                                   const std::vector<SeriesMethod*>& methods, const EvalOptions& o);

}  // namespace umbra::model
