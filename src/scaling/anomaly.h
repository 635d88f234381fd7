#pragma once

#include <span>
#include <vector>

namespace umbra::scaling {

struct AnomalyOptions {
  // The band a step's demand is judged against: the forecast's median plus the `bandQuantile` of
  // the target's own recent one-step forecast errors (demand - median, the newest `historySteps`
  // steps, one week at 300 s), once `minHistorySteps` of them are known. An
  // anomaly is rare by definition: at 0.999 about one step in a thousand of normal demand is
  // outside (every 3.5 days at 300 s), and two in a row are rarer still.
  double bandQuantile = 0.999;
  size_t historySteps = 2016;
  size_t minHistorySteps = 288;
  // Before that: the median plus this multiple of the forecast's (p90 - median) spread (1.815 is
  // the ratio of the normal's 99th to its 90th percentile offset).
  double bandMultiple = 1.815;
  // And at least this far above the median, in the resource's units (a surge smaller than this is
  // not worth an aggressive strategy; the scaler sets it from the target's size).
  double minExcess = 0;
  int consecutiveSteps = 2;  // steps outside the band before it is an anomaly
};

// What the detector says about one step.
struct AnomalyReport {
  bool alarm = false;     // an anomaly is in progress (this step is one of its steps)
  bool started = false;   // it was raised at this step
  double bandWidths = 0;  // (demand - median) / (band - median) for this step
};

// Surge detection on forecast residuals: a step whose demand is above the band of the forecast
// made just before it is outside; while steps stay outside they are judged against the forecast
// made before the first of them (its second, third... step), not against forecasts that have
// already followed the surge. `consecutiveSteps` such steps raise an anomaly, which lasts while
// steps stay outside. Only upward surges (a drop is not a reason to add capacity).
class SurgeDetector {
 public:
  explicit SurgeDetector(AnomalyOptions options = {}) : o_(options) {}

  // `demand` observed for the step after the forecast (`p50`, `p90`, per step ahead, the first
  // for this step) was made.
  AnomalyReport observe(double demand, std::span<const double> p50, std::span<const double> p90);

  const AnomalyOptions& options() const { return o_; }

 private:
  AnomalyOptions o_;
  int outside_ = 0;
  std::vector<double> refP50_, refP90_;  // the forecast made before the current excursion
  std::vector<double> errors_;           // ring of recent one-step errors
  size_t next_ = 0;
  double threshold_ = 0;  // their bandQuantile, refreshed every `refreshSteps` observations
  size_t sinceRefresh_ = 0;
};

}  // namespace umbra::scaling
