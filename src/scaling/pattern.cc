#include "scaling/pattern.h"

#include <algorithm>
#include <cmath>

namespace umbra::scaling {

double autocorrelation(std::span<const double> v, size_t lag) {
  const size_t n = v.size();
  if (lag == 0 || lag >= n)
    return 0;
  double mean = 0;
  for (const double x : v)
    mean += x;
  mean /= static_cast<double>(n);
  double var = 0, cov = 0;
  for (size_t i = 0; i < n; ++i)
    var += (v[i] - mean) * (v[i] - mean);
  for (size_t i = lag; i < n; ++i)
    cov += (v[i] - mean) * (v[i - lag] - mean);
  return var > 0 ? cov / var : 0;
}

std::vector<Period> detectPeriods(std::span<const double> values, double stepSeconds,
                                  const PatternOptions& options) {
  std::vector<Period> out;
  if (stepSeconds <= 0)
    return out;
  const auto lag = [&](double seconds) { return static_cast<size_t>(seconds / stepSeconds + 0.5); };
  const double day = 86400, week = 7 * day;
  // The day: its autocorrelation against half a day's (out of phase), halved (a sine scores 1).
  if (values.size() >= 2 * lag(day) && lag(day) >= 2) {
    const double s =
        (autocorrelation(values, lag(day)) - autocorrelation(values, lag(day / 2))) / 2;
    if (std::clamp(s, 0.0, 1.0) >= options.minStrength)
      out.push_back({day, std::clamp(s, 0.0, 1.0)});
  }
  // The week: its autocorrelation above the mean of one to six days' (what the day alone gives).
  // Two weeks are too few: a random walk's autocorrelations swing enough over them to fake one.
  if (values.size() >= 3 * lag(week) && lag(day) >= 1) {
    double days = 0;
    for (int k = 1; k <= 6; ++k)
      days += autocorrelation(values, lag(k * day));
    const double s = autocorrelation(values, lag(week)) - days / 6;
    if (std::clamp(s, 0.0, 1.0) >= options.minStrength)
      out.push_back({week, std::clamp(s, 0.0, 1.0)});
  }
  std::sort(out.begin(), out.end(),
            [](const Period& a, const Period& b) { return a.strength > b.strength; });
  return out;
}

double riseQuantile(std::span<const double> values, size_t lagSteps, double q) {
  if (lagSteps == 0 || values.size() <= lagSteps)
    return 0;
  std::vector<double> rises;
  rises.reserve(values.size() - lagSteps);
  for (size_t t = lagSteps; t < values.size(); ++t)
    rises.push_back(std::max(0.0, values[t] - values[t - lagSteps]));
  const size_t at = std::min(
      rises.size() - 1, static_cast<size_t>(std::ceil(q * static_cast<double>(rises.size() - 1))));
  std::nth_element(rises.begin(), rises.begin() + static_cast<long>(at), rises.end());
  return rises[at];
}

}  // namespace umbra::scaling
