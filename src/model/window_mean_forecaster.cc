#include <algorithm>
#include <cmath>

#include "model/forecaster.h"

namespace umbra::model {

placement::Decision rankNodes(Forecaster& forecaster,
                              const std::vector<telemetry::CandidateTelemetry>& nodes,
                              const TargetProfile& target, const api::ScoringWeights& weights) {
  std::vector<placement::CandidateForecast> forecasts;
  for (const auto& c : nodes) {
    auto f = forecaster.forecast(c, target);
    if (f.ok())
      forecasts.push_back({c.node, f->p50, f->confidence, f->cpuStderr, f->cpuModelSd});
  }
  return placement::decide(forecasts, weights);
}

double stealStandardError(const std::vector<telemetry::Sample>& samples) {
  std::vector<double> x;
  for (const auto& s : samples) {
    if (s.present)
      x.push_back(s.cpuSteal);
  }
  const size_t n = x.size();
  if (n < 2)
    return 1.0;
  double mean = 0;
  for (const double v : x)
    mean += v;
  mean /= static_cast<double>(n);
  double var = 0, cov = 0;
  for (size_t i = 0; i < n; ++i) {
    var += (x[i] - mean) * (x[i] - mean);
    if (i > 0)
      cov += (x[i] - mean) * (x[i - 1] - mean);
  }
  const double r = var > 0 ? std::clamp(cov / var, 0.0, 0.95) : 0.0;
  const double nEff = std::max(1.0, static_cast<double>(n) * (1 - r) / (1 + r));
  const double sd = std::sqrt(var / static_cast<double>(n - 1));
  return sd / std::sqrt(nEff);
}

Result<Forecast> WindowMeanForecaster::forecast(const telemetry::CandidateTelemetry& observed,
                                                const TargetProfile& target) {
  size_t n = 0;
  placement::Contention sum;
  placement::Contention sumSq;
  double util = 0;
  for (const auto& s : observed.samples) {
    if (!s.present) {
      continue;
    }
    ++n;
    sum.cpuContention += s.cpuSteal;
    sumSq.cpuContention += s.cpuSteal * s.cpuSteal;
    sum.memoryPressure += s.memoryPressure;
    sumSq.memoryPressure += s.memoryPressure * s.memoryPressure;
    sum.ioWait += s.ioWait;
    sumSq.ioWait += s.ioWait * s.ioWait;
    sum.networkLatency += s.networkLatency;
    sumSq.networkLatency += s.networkLatency * s.networkLatency;
    util += s.cpuUtilization;
  }
  if (n == 0) {
    return Error::make(ErrorKind::Unavailable,
                       "node " + observed.node +
                           ": no usable telemetry sample yet (is observation.duration longer than "
                           "the rate window?)");
  }
  const double dn = static_cast<double>(n);
  const auto mean = [dn](double v) { return v / dn; };
  const auto sd = [dn](double s, double sq) {
    return std::sqrt(std::max(0.0, sq / dn - (s / dn) * (s / dn)));
  };
  Forecast f;
  util = mean(util);
  // A larger target on a busier node queues more: scale observed steal by (1 + u * vcpus / 8).
  const double loadFactor = 1.0 + std::clamp(util, 0.0, 1.0) * std::max(1.0, target.vcpus) / 8.0;
  f.p50.cpuContention = std::min(1.0, mean(sum.cpuContention) * loadFactor);
  f.p50.memoryPressure = mean(sum.memoryPressure);
  f.p50.ioWait = mean(sum.ioWait);
  f.p50.networkLatency = mean(sum.networkLatency);
  f.p90.cpuContention =
      std::min(1.0, f.p50.cpuContention + 1.28 * sd(sum.cpuContention, sumSq.cpuContention));
  f.p90.memoryPressure =
      std::min(1.0, f.p50.memoryPressure + 1.28 * sd(sum.memoryPressure, sumSq.memoryPressure));
  f.p90.ioWait = std::min(1.0, f.p50.ioWait + 1.28 * sd(sum.ioWait, sumSq.ioWait));
  f.p90.networkLatency = f.p50.networkLatency + 1.28 * sd(sum.networkLatency, sumSq.networkLatency);
  const double coverage = dn / static_cast<double>(observed.samples.size());
  const double cv = sd(sum.cpuContention, sumSq.cpuContention) / (mean(sum.cpuContention) + 0.02);
  const double enough = std::min(1.0, dn / 4.0);  // fewer than 4 samples is thin evidence
  f.confidence = std::clamp(coverage * enough / (1.0 + cv), 0.0, 1.0);
  f.cpuStderr = stealStandardError(observed.samples) * loadFactor;
  return f;
}

}  // namespace umbra::model
