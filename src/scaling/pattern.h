#pragma once

#include <span>
#include <vector>

namespace umbra::scaling {

// A cycle found in a demand series: its period and how strongly it holds.
struct Period {
  double seconds = 0;
  // In [0, 1]. The day: half the autocorrelation at a day minus the one at half a day (out of
  // phase): a persistent series without a cycle correlates equally at both and scores ~0, a pure
  // daily sine scores 1. The week: the autocorrelation at seven days minus the mean of those at
  // one to six days, i.e. what the week adds to the day.
  double strength = 0;
};

struct PatternOptions {
  double minStrength = 0.2;  // a period is reported from this strength on
};

// The daily and weekly cycles of `values` (a regular grid of `stepSeconds`), strongest first; the
// day needs two days of data to be judged, the week three weeks.
std::vector<Period> detectPeriods(std::span<const double> values, double stepSeconds,
                                  const PatternOptions& options = {});

// How fast the series has risen: the `q`-quantile of its rises over `lagSteps` steps (values[t] -
// values[t - lagSteps], falls counted as 0 rises), over the whole series; 0 for a series shorter
// than lagSteps + 1. A reserve that must cover what can arrive before more capacity is ready
// (a cold start) reads it at that lag: the level forecast's band does not see a sudden jump.
double riseQuantile(std::span<const double> values, size_t lagSteps, double q);

// The sample autocorrelation of `values` at `lag` (0 when undefined).
double autocorrelation(std::span<const double> values, size_t lag);

}  // namespace umbra::scaling
