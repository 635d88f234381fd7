#include "model/evaluation.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

namespace umbra::model {
namespace {

size_t splitOf(const EvalSeries& s, const EvalOptions& o) {
  return static_cast<size_t>(o.trainFraction * static_cast<double>(s.values.size()));
}

}  // namespace

std::vector<EvalSeries> seriesFromFrames(
    const std::map<std::string, telemetry::FeatureFrame>& frames, const std::string& column) {
  std::vector<EvalSeries> out;
  for (const auto& [key, frame] : frames) {
    const int c = frame.column(column);
    if (c < 0)
      continue;
    EvalSeries s{key, {}, {}};
    double last = 0;
    bool seen = false;
    for (size_t r = 0; r < frame.rows(); ++r) {
      const bool has = frame.has(r, static_cast<size_t>(c));
      if (has) {
        last = frame.value(r, static_cast<size_t>(c));
        if (!seen) {  // the first value also stands for the gaps before it
          std::fill(s.values.begin(), s.values.end(), last);
          seen = true;
        }
      }
      s.values.push_back(last);
      s.observed.push_back(has ? 1 : 0);
    }
    if (seen)
      out.push_back(std::move(s));
  }
  return out;
}

std::vector<TrainSeries> trainingParts(const std::vector<EvalSeries>& all, const EvalOptions& o) {
  std::vector<TrainSeries> out;
  out.reserve(all.size());
  for (const auto& s : all) {
    const size_t split = splitOf(s, o);
    TrainSeries t;
    t.values.assign(s.values.begin(), s.values.begin() + static_cast<std::ptrdiff_t>(split));
    if (!s.observed.empty())
      t.observed.assign(s.observed.begin(),
                        s.observed.begin() + static_cast<std::ptrdiff_t>(split));
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<MethodReport> evaluate(const std::vector<EvalSeries>& all,
                                   const std::vector<SeriesMethod*>& methods,
                                   const EvalOptions& o) {
  using Steady = std::chrono::steady_clock;
  const std::vector<TrainSeries> train = trainingParts(all, o);
  std::vector<double> scale(all.size());
  for (size_t i = 0; i < all.size(); ++i)
    scale[i] = maseScale(train[i], o.period);
  std::vector<MethodReport> reports;
  const auto h = static_cast<size_t>(o.horizon);
  for (SeriesMethod* m : methods) {
    MethodReport r;
    r.method = m->name();
    const auto t0 = Steady::now();
    (void)m->fit(train, o.horizon);
    r.trainSeconds = std::chrono::duration<double>(Steady::now() - t0).count();
    double inferSeconds = 0;
    size_t windows = 0, covered = 0;
    double maseSum = 0, smapeSum = 0, maeSum = 0;
    size_t smapeSeries = 0;
    for (size_t i = 0; i < all.size(); ++i) {
      const auto& s = all[i];
      const size_t split = splitOf(s, o);
      double absErr = 0, smape = 0;
      size_t n = 0;
      for (size_t origin = std::max<size_t>(split, 1) - 1; origin + h < s.values.size();
           origin += static_cast<size_t>(o.originStride)) {
        const std::span<const double> history(s.values.data(), origin + 1);
        const auto f0 = Steady::now();
        QuantileForecast f = m->predict(i, history, o.horizon);
        inferSeconds += std::chrono::duration<double>(Steady::now() - f0).count();
        ++windows;
        for (size_t k = 0; k < h; ++k) {
          const size_t t = origin + 1 + k;
          if (!s.observed.empty() && !s.observed[t])
            continue;
          const double a = s.values[t];
          const double p50 = std::clamp(f.p50[k], 0.0, 1.0);
          const double p90 = std::clamp(f.p90[k], 0.0, 1.0);
          absErr += std::abs(a - p50);
          const double denom = std::abs(a) + std::abs(p50);
          smape += denom > 0 ? 2 * std::abs(a - p50) / denom : 0;
          covered += a <= p90 + 1e-12 ? 1 : 0;
          ++n;
        }
      }
      r.points += n;
      if (n == 0) {
        r.perSeriesMase.push_back(std::numeric_limits<double>::quiet_NaN());
        continue;
      }
      const double mae = absErr / static_cast<double>(n);
      maeSum += mae;
      smapeSum += smape / static_cast<double>(n);
      ++smapeSeries;
      if (scale[i] > 1e-12) {
        r.perSeriesMase.push_back(mae / scale[i]);
        maseSum += mae / scale[i];
        ++r.series;
      } else {
        r.perSeriesMase.push_back(std::numeric_limits<double>::quiet_NaN());
      }
    }
    r.mase = r.series ? maseSum / static_cast<double>(r.series) : 0;
    r.smape = smapeSeries ? smapeSum / static_cast<double>(smapeSeries) : 0;
    r.mae = smapeSeries ? maeSum / static_cast<double>(smapeSeries) : 0;
    r.coverage = r.points ? static_cast<double>(covered) / static_cast<double>(r.points) : 0;
    r.inferenceMicros = windows ? inferSeconds * 1e6 / static_cast<double>(windows) : 0;
    reports.push_back(std::move(r));
  }
  return reports;
}

}  // namespace umbra::model
