#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace umbra::model {

// Univariate utilisation forecasting on a regular grid (the demand half of the forecaster): every
// method sees a series' values up to and including the forecast origin and returns, per horizon
// step, the median and the 90th percentile.
struct QuantileForecast {
  std::vector<double> p50;
  std::vector<double> p90;
};

// One series' training part (values carried forward over gaps; `observed` marks real samples).
struct TrainSeries {
  std::vector<double> values;
  std::vector<uint8_t> observed;
};

class SeriesMethod {
 public:
  virtual ~SeriesMethod() = default;
  virtual std::string name() const = 0;
  // Learns from the training parts of every series: global methods (the LSTM) across them,
  // local ones (baselines) per series, indexed as given.
  virtual Status fit(const std::vector<TrainSeries>& train, int horizon) = 0;
  // Forecasts series `index` from `history` (its values up to the origin, oldest first). Reads
  // only what fit() stored, so several reconciles may call it at once.
  virtual QuantileForecast predict(size_t index, std::span<const double> history,
                                   int horizon) const = 0;
};

// Baselines (also the fallbacks when no trained model is available). Their p90 is the p50 plus the
// 90th percentile of their own in-sample h-step errors, per series and horizon step.
std::unique_ptr<SeriesMethod> lastValue();
std::unique_ptr<SeriesMethod> seasonalNaive(int period);
// The median of the newest `steps` values (3 hours at 300 s in the engine), flat over the horizon.
std::unique_ptr<SeriesMethod> recentMedian(int steps);
// Additive Holt-Winters (level, trend, season of `period`), smoothing parameters chosen per series
// by one-step squared error on a small grid over the training part.
std::unique_ptr<SeriesMethod> holtWinters(int period);
// Linear autoregression on the last `lags` values and the value one `period` before the target,
// one least-squares model per horizon step (direct strategy), per series.
std::unique_ptr<SeriesMethod> linearAutoregressive(int lags, int period);

// Accuracy over rolling origins.
struct Accuracy {
  double mase = 0;   // MAE / in-sample seasonal-naive MAE of the series
  double smape = 0;  // symmetric MAPE in [0, 2]; pairs with |a| + |f| = 0 count 0
  double mae = 0;
  double coverage = 0;  // share of actuals <= p90
  size_t points = 0;
};

// The empirical `q` quantile of `v` (the value at rank floor(q n), no interpolation); 0 when empty.
// The baselines' and the guard's p90 margins.
double quantileOf(std::vector<double> v, double q);
// The `q` quantile of `v` interpolated between ranks (q (n - 1)); 0 when empty. The placement
// benchmark's p95s and the outcomes judged the same way.
double percentileOf(std::vector<double> v, double q);

// In-sample MAE of the seasonal-naive forecast (lag `period`) on `train` over observed pairs; the
// MASE denominator. Falls back to lag 1 when the season is flat; 0 when the series is constant.
double maseScale(const TrainSeries& train, int period);

}  // namespace umbra::model
